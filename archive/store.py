"""The versioned store. ``record_fetch`` is the only code that writes versions.

It applies the rules docs/versions.md lists, in the order it lists them, each a function named
after its rule (see ``record_fetch``); whether a page is the article at all (walls, error pages,
collapsed or mis-decoded text) is decided by the pure functions of ``archive.health``. In short:

1. a new version when the normalised text, title, byline or declared dates differ from the
   latest version;
2. unchanged raw bytes (same SHA-256, or a 304) short-circuit: no extraction, one fetch row;
3. error pages, consent walls, paywall stubs and collapsed extractions are *suspect* fetches,
   never versions; 404/410 is a removal and coming back a restoration;
4. a version, its fetch row and its blob are written in the caller's one transaction; two
   writers recording the same state produce one version (the article row is locked first:
   ``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL; a unique
   ``(article_id, seq)`` backs it up and ``record`` retries the loser).

The rules against false edits refine them (docs/versions.md, Removals to Republication links):

- versions are compared by their *key* (``volatile.key_text``: furniture masked, and with a
  ``Capture.confirm`` re-fetch only the words both fetches agree on);
- a return to an earlier state is a version flagged ``revert-to:N``; further alternation between
  states already archived (A/B tests) adds no versions: the fetch is attributed to the matching
  version, both are flagged ``flip-flop`` and ``Article.current_seq`` says which one is showing;
- a suspect state (wall, sharp shrink, ``isAccessibleForFree=false``) seen on two consecutive
  checks becomes a version labelled with it; a removal (404/410, soft 404, redirect to the home
  page) needs two consecutive checks at least ``REMOVAL_CONFIRM_AFTER`` apart;
- lossy decoding is never an edit; new versions are linked to republished copies (``dedup``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from archive import dedup, health, stats
from archive.blobs import put_blob, sha256_hex
from archive.db import attach_inserted, insert_ignore, write_retrying
from archive.derive import Derived
from archive.errors import ConfigError
from archive.extract import Extracted, ExtractionError, extract, storable
from archive.lookups import (
    current_version,
    find_article,
    find_articles,
    latest_and_current_versions,
    latest_version,
    normalize_url_or_none,
)
from archive.models import (
    Article,
    ArticleStatus,
    ArticleURL,
    ChangeKind,
    Fetch,
    FetchOrigin,
    FetchOutcome,
    Version,
)
from archive.normalize import (
    URLError,
    is_home_page,
    normalize_field,
    normalize_url,
    same_site,
    url_variants,
)
from archive.schedule import DEFAULT_LADDER, Rung, next_check
from archive.volatile import (
    confirmed_key_text,
    key_digest,
    key_text,
    lossy_matches,
    only_rotated_since,
)

logger = logging.getLogger(__name__)

# Flag of a version whose dates were guessed from its text (not part of its state).
GUESSED_DATES = "dates-guessed"
# A suspect state becomes a version once seen on this many consecutive checks.
SUSPECT_CONFIRMATIONS = 2
# A removal is recorded when a second check at least this long after the first confirms it.
REMOVAL_CONFIRM_AFTER = timedelta(minutes=30)
# Overrides REMOVAL_CONFIRM_AFTER (in seconds); tests and the demo set it to 0.
REMOVAL_CONFIRM_ENV = "MEDIAWATCH_REMOVAL_CONFIRM_SECONDS"


def removal_confirm_after() -> timedelta:
    """How far apart the two checks confirming a removal must be."""
    value = os.environ.get(REMOVAL_CONFIRM_ENV)
    if value is None or not value.strip():
        return REMOVAL_CONFIRM_AFTER
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        raise ConfigError(f"{REMOVAL_CONFIRM_ENV} must be a number of seconds, not {value!r}") from None


# An unconfirmed state is re-checked this soon.
PENDING_RECHECK = timedelta(hours=1)
# How many recent versions a returning state is looked up in (flip-flops, reverts).
FLIP_FLOP_WINDOW = 10
# With a confirming re-fetch, the two fetches must agree on at least this share of the text.
MIN_AGREEMENT = 0.5


@dataclass(frozen=True)
class Capture:
    """One check of a URL, as seen by a crawler, an importer or a web archive."""

    url: str
    fetched_at: datetime
    status: int | None = 200  # None: no HTTP response at all (timeout, refused, DNS)
    raw: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    extracted: Extracted | None = None  # already extracted (process pool, text-only import)
    error: str | None = None
    final_url: str | None = None  # where redirects ended
    origin: FetchOrigin = FetchOrigin.CRAWL
    crawl_run_id: int | None = None
    source_id: int | None = None
    relevance: float | None = None
    trust_cross_domain_canonical: bool = False
    # The response's original HTTP headers ([name, value] pairs) and, for WARC input, the
    # record's WARC-Record-ID: kept on the fetch row so a WARC export can reproduce them.
    http_headers: list[list[str]] | None = None
    warc_record_id: str | None = None

    # A second fetch of the same URL made moments later (raw bytes or already extracted): only
    # the text both fetches agree on counts, so what changes on every request is not an edit.
    confirm: bytes | Extracted | None = None
    # The source's extra furniture patterns (``SourcePolicy.ignore_lines``).
    ignore_patterns: tuple[str, ...] = ()
    # The source's revisit ladder (``SourcePolicy.revisit``); None: the default ladder.
    revisit_ladder: tuple[Rung, ...] | None = None
    # What could be derived from ``raw`` and ``extracted`` ahead, off the writer (archive/derive.py):
    # used where it matches, recomputed where it does not (or when None).
    derived: Derived | None = None


@dataclass(frozen=True)
class RecordResult:
    outcome: FetchOutcome
    article_id: int | None = None
    fetch_id: int | None = None
    version_seq: int | None = None
    change_kind: ChangeKind | None = None
    message: str | None = None
    new_article: bool = False
    extracted: bool = False  # whether extraction ran for this fetch
    flags: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# The article row: created, locked, its aliases


def _lock_article(session: Session, article_id: int) -> Article:
    stmt = select(Article).where(Article.id == article_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    article = session.scalars(stmt.execution_options(populate_existing=True)).one()
    return article


def _locked(session: Session, article: Article) -> Article:
    """``article``, found in this transaction, locked for it.

    On SQLite the write transaction began ``IMMEDIATE``: no other writer can change the row,
    so the object read in it is current and needs no second read.
    """
    if session.get_bind().dialect.name == "sqlite":
        return article
    return _lock_article(session, article.id)


def _get_or_create_article(
    session: Session, canonical: str, *, at: datetime, source_id: int | None
) -> tuple[Article, bool]:
    # Called once the look-ups found no article for this URL: insert first (a lost race with
    # another writer inserts nothing and the winner's row is read instead).
    values: dict[str, Any] = {
        "canonical_url": canonical,
        "source_id": source_id,
        "first_seen": at,
        "status": ArticleStatus.LIVE,
        "version_count": 0,
    }
    created = session.connection().scalar(insert_ignore(session, Article, returning="id"), values)
    if created is not None:
        # The row this transaction inserted is its own until it commits: nothing to lock or
        # read again.
        return attach_inserted(session, Article, {"id": created, **values}), True
    existing = session.scalar(select(Article.id).where(Article.canonical_url == canonical))
    assert existing is not None
    return _lock_article(session, existing), False


def add_link_alias(session: Session, url: str, target: str, at: datetime) -> bool:
    """Record ``url`` (e.g. a Google News link) as an alias of the article ``target`` leads to.

    Returns whether there was such an article. A link found to lead to an archived article is
    then known, and not resolved again.
    """
    article = find_article(session, target)
    if article is None:
        return False
    if normalize_url_or_none(url) not in (None, article.canonical_url):
        _add_alias(session, article.id, url, "alias", at)
    return True


def _add_alias(session: Session, article_id: int, url: str, kind: str, at: datetime) -> None:
    try:
        key = normalize_url(url)
    except URLError:
        return
    session.connection().execute(
        insert_ignore(session, ArticleURL),
        {"article_id": article_id, "url": key, "kind": kind, "first_seen": at},
    )


State = tuple[str, str | None, str | None, str | None, str | None]


def _state(extracted: Extracted, patterns: tuple[str, ...] = (), key: str | None = None) -> State:
    # Dates guessed from the page's text (not declared in JSON-LD or meta tags) move with
    # "page generated" stamps and sidebars; they are stored but never make a version.
    declared = extracted.dates_declared
    return (
        key_digest(key if key is not None else key_text(extracted.text, patterns)),
        normalize_field(extracted.title),
        normalize_field(extracted.byline),
        extracted.published if declared else None,
        extracted.modified if declared else None,
    )


def extraction_flags(extracted: Extracted) -> list[str]:
    """The flags a version gets from how its page read: bytes that had to be replaced, and dates
    guessed from the text (which ``_version_state`` leaves out of the comparison, as ``_state``
    does for the extraction: a version without the flag would differ from its own page)."""
    flags = ["lossy-decoding"] if extracted.lossy_decoding else []
    if not extracted.dates_declared and (extracted.published or extracted.modified):
        flags.append(GUESSED_DATES)
    return flags


def _version_state(v: Version) -> State:
    declared = GUESSED_DATES not in v.flags
    return (
        v.text_sha256,
        normalize_field(v.title),
        normalize_field(v.byline),
        v.published if declared else None,
        v.modified if declared else None,
    )


def _canonical_for(capture: Capture, extracted: Extracted | None, fetched_key: str) -> str:
    declared = extracted.canonical_url if extracted else None
    if not declared:
        return fetched_key
    try:
        key = normalize_url(declared)
    except URLError:
        return fetched_key
    # A page may only name a canonical on its own site, so a hostile page cannot merge
    # itself into another outlet's article (unless the source is trusted to do so).
    if capture.trust_cross_domain_canonical or same_site(key, fetched_key):
        return key
    return fetched_key


# ---------------------------------------------------------------------------------------------
# The writer: the rules docs/versions.md lists, in its order


def _require_aware(capture: Capture) -> None:
    if capture.fetched_at.tzinfo is None:
        raise ValueError("Capture.fetched_at must be timezone-aware")


def record_fetch(
    session: Session,
    capture: Capture,
    *,
    extractor: Callable[..., Extracted] = extract,
) -> RecordResult:
    """Record one check of a URL inside the caller's transaction and return what came of it.

    The rules docs/versions.md lists, in its order, one function each: each rule either
    decides what comes of the fetch (and records it) or passes it on to the next; the steps
    marked "not a rule" only establish what the rules after them need. A fetch that passes
    them all is a new version.
    """
    _require_aware(capture)
    return _decide(_Check(session, capture, extractor, fetched_url=capture.final_url or capture.url))


def _decide(check: _Check, first: int = 0) -> RecordResult:
    """The rules from ``_RULES[first]`` on, in order: the first that decides, or a new version."""
    result = _first_decision(check, _RULES[first:])
    return result if result is not None else _new_version(check)


def _first_decision(check: _Check, rules: Sequence[_Rule]) -> RecordResult | None:
    for rule in rules:
        if (result := rule(check)) is not None:
            return result
    return None


@dataclass
class _Check:
    """One fetch on its way through the rules: what the rules before have established."""

    session: Session
    capture: Capture
    extractor: Callable[..., Extracted]
    fetched_url: str  # where redirects ended
    fetched_key: str = ""  # fetched_url normalised
    article: Article | None = None  # locked for this transaction once found or created
    current: Version | None = None
    extracted: Extracted | None = None
    did_extract: bool = False
    new_article: bool = False
    key: str = ""  # the key text: the state's digest is taken of it
    second: Extracted | None = None  # the confirming re-fetch, extracted
    state: State | None = None
    label: str | None = None  # a confirmed suspect state's label
    revert_to: int | None = None  # the earlier version whose state the page returned to
    # Set by record_batch: the article and versions looked up for the whole batch, and the
    # batch's fetch rows waiting to be inserted together (None: each is inserted at once).
    ahead: _LookedUp | None = None
    rows: list[dict[str, Any]] | None = None

    @property
    def at(self) -> datetime:
        return self.capture.fetched_at

    @cached_property
    def raw_digest(self) -> str | None:
        return raw_sha256_of(self.capture)

    @property
    def known(self) -> Article:
        """The article, once ``_new_url`` has found or created it."""
        assert self.article is not None
        return self.article

    @property
    def page(self) -> Extracted:
        """The extraction, once ``_extraction`` has run."""
        assert self.extracted is not None
        return self.extracted

    @property
    def page_state(self) -> State:
        """The page's state, once ``_same_state`` has worked it out."""
        assert self.state is not None
        return self.state

    def suspicion(self, previous: Version | None) -> health.Suspicion | None:
        """``health.classify`` of the extraction against ``previous``. A new article is asked
        about twice with no previous version (may it be created, then is it suspect), and the
        wall and error-page searches are the writer's costliest text work: once is enough."""
        return self._suspicion_without_history if previous is None else health.classify(self.page, previous)

    @cached_property
    def _suspicion_without_history(self) -> health.Suspicion | None:
        return health.classify(self.page, None)

    @property
    def live(self) -> Version | None:
        """The current version, unless there is none or it is a removal."""
        current = self.current
        return current if current is not None and current.change_kind != ChangeKind.REMOVED else None

    def current_version(self) -> Version | None:
        """The current version of the article ``_look_up`` found."""
        if self.ahead is not None:
            return self.ahead.current
        return current_version(self.session, self.known)

    def latest_version(self) -> Version | None:
        """The latest version of the article ``_look_up`` found."""
        if self.ahead is not None:
            return self.ahead.latest
        return latest_version(self.session, self.known.id)

    def fetch_only(
        self, outcome: FetchOutcome, message: str | None, *, version: Version | None = None
    ) -> RecordResult:
        if self.rows is None:
            return _fetch_only(self.session, self.capture, self.article, outcome, message, version=version)
        self.rows.append(_fetch_row(self.capture, self.article, outcome, message, version))
        return RecordResult(outcome, self.article.id if self.article is not None else None, message=message)


# A rule decides what comes of the fetch (and records it), or returns None to pass it on.
_Rule = Callable[[_Check], RecordResult | None]


def _unusable_url(check: _Check) -> RecordResult | None:
    """A URL that does not normalise is no article URL: a skipped fetch.

    docs/versions.md, One article per story.
    """
    try:
        check.fetched_key = normalize_url(check.fetched_url)
    except URLError as exc:
        return check.fetch_only(FetchOutcome.SKIPPED, str(exc))
    return None


def _look_up(check: _Check) -> RecordResult | None:
    """Not a rule: the archived article the URL (or where it redirected) leads to, locked."""
    session, capture = check.session, check.capture
    if check.ahead is not None:
        check.article = check.ahead.article  # found and locked for the whole batch
        return None
    article = find_article(session, capture.url) or (
        find_article(session, check.fetched_url) if capture.final_url else None
    )
    if article is not None:
        check.article = _locked(session, article)
    return None


def _reimported(check: _Check) -> RecordResult | None:
    """Re-importing what was already recorded (same article, time, origin, status) changes nothing.

    docs/versions.md, Out-of-order captures.
    """
    article, capture = check.article, check.capture
    if (
        article is not None
        and capture.origin != FetchOrigin.CRAWL
        and _already_recorded(check.session, article.id, capture)
    ):
        return RecordResult(FetchOutcome.SKIPPED, article.id, None, message="already recorded")
    return None


def _no_usable_response(check: _Check) -> RecordResult | None:
    """No usable HTTP response (timeout, refused, 5xx, 429): an error, never a removal.

    docs/versions.md, Errors are never removals.
    """
    capture = check.capture
    if capture.status is None or capture.error or capture.status >= 500 or capture.status == 429:
        return check.fetch_only(FetchOutcome.ERROR, capture.error or f"HTTP {capture.status}")
    return None


def _gone(check: _Check) -> RecordResult | None:
    """404 or 410: a removal, once a second check confirms it.

    docs/versions.md, Removals.
    """
    status = check.capture.status
    if status in (404, 410):
        return _record_removed(check.session, check.capture, check.article, f"HTTP {status}")
    return None


def _not_modified(check: _Check) -> RecordResult | None:
    """304: the current version is confirmed without extraction; for a URL not archived, an error.

    docs/versions.md, Short-circuits.
    """
    if check.capture.status != 304:
        return None
    article = check.article
    if article is None:
        return check.fetch_only(FetchOutcome.ERROR, "304 for an unknown URL")
    current = check.current_version()
    if current is not None:
        current.last_seen = max(current.last_seen, check.at)
        if current.change_kind != ChangeKind.REMOVED:
            _clear_pending(article)
    return check.fetch_only(FetchOutcome.NOT_MODIFIED, None, version=current)


def _unexpected_status(check: _Check) -> RecordResult | None:
    """Any other status but a 2xx (a 403, a 3xx that was not followed): an error.

    docs/versions.md, Errors are never removals.
    """
    status = check.capture.status
    assert status is not None  # no response at all: _no_usable_response
    if not 200 <= status < 300:
        return check.fetch_only(FetchOutcome.ERROR, f"unexpected HTTP {status}")
    return None


def _redirected_home(check: _Check) -> RecordResult | None:
    """An article redirected to its site's front page is gone (a soft 404).

    docs/versions.md, Removals.
    """
    capture = check.capture
    if capture.final_url and is_home_page(capture.final_url) and not is_home_page(capture.url):
        message = "redirected to the home page (soft 404)"
        return _record_removed(check.session, capture, check.article, message, soft=True)
    return None


def _older_than_history(check: _Check) -> RecordResult | None:
    """A capture older than the article's newest version: dated evidence, never spliced in.

    docs/versions.md, Out-of-order captures.
    """
    article = check.article
    if article is None:
        return None
    latest = check.latest_version()
    if latest is not None and check.at < latest.first_seen:
        return _record_out_of_order(check.session, check.capture, article, check.extractor)
    return None


def _same_raw_bytes(check: _Check) -> RecordResult | None:
    """A 200 whose body hashes to the article's last capture: unchanged, without extraction.

    docs/versions.md, Short-circuits.
    """
    article = check.article
    if article is None:
        return None
    current = check.current = check.current_version()
    if (
        check.raw_digest is not None
        and check.raw_digest == article.last_raw_sha256
        and current is not None
        and current.change_kind != ChangeKind.REMOVED
    ):
        current.last_seen = max(current.last_seen, check.at)
        _clear_pending(article)
        return check.fetch_only(FetchOutcome.UNCHANGED, None, version=current)
    return None


def _extraction(check: _Check) -> RecordResult | None:
    """The page is extracted (unless the capture carries its text); one that cannot be is suspect.

    docs/versions.md, Suspect fetches.
    """
    capture = check.capture
    extracted = capture.extracted
    if extracted is None:
        if capture.raw is None:
            return check.fetch_only(FetchOutcome.ERROR, "no content")
        try:
            extracted = check.extractor(capture.raw, url=check.fetched_url, content_type=capture.content_type)
        except ExtractionError as exc:
            return check.fetch_only(FetchOutcome.SUSPECT, str(exc))
        check.did_extract = True
    # Whoever extracted it (the pool, an import, a WARC), no stored field carries a character
    # XML cannot: one U+FFFF in a title would make the Atom feed ill-formed.
    check.extracted = storable(extracted)
    return None


def _new_url(check: _Check) -> RecordResult | None:
    """A URL not archived yet: the article its canonical URL names, or a new one.

    Only a page that is not suspect creates an article (docs/versions.md, Suspect fetches); the
    canonical URL is followed on the same site only (docs/versions.md, One article per story).
    """
    if check.article is not None:
        return None
    session, capture, extracted = check.session, check.capture, check.page
    canonical = _canonical_for(capture, extracted, check.fetched_key)
    # The URLs looked up above missed; asked again in the same transaction they would miss again.
    looked_up = (normalize_url_or_none(capture.url), check.fetched_key)
    existing = None if canonical in looked_up else find_article(session, canonical)
    if existing is not None:
        article = _locked(session, existing)
    else:
        suspicion = check.suspicion(None)
        if suspicion is not None:
            # A wall or error page seen before any real version: no article is created.
            return check.fetch_only(FetchOutcome.SUSPECT, suspicion.message)
        article, check.new_article = _get_or_create_article(
            session, canonical, at=check.at, source_id=capture.source_id
        )
    check.article = article
    # An article this transaction created has no versions yet.
    latest = None if check.new_article else latest_version(session, article.id)
    if latest is not None and check.at < latest.first_seen:
        # Another writer recorded newer states of this article meanwhile.
        return _record_out_of_order(session, replace(capture, extracted=extracted), article, check.extractor)
    check.current = None if check.new_article else current_version(session, article)
    return None


def _note_urls(check: _Check) -> RecordResult | None:
    """Not a rule: the URLs that led to the article become its aliases, and a crawl's relevance
    score is kept (docs/versions.md, One article per story)."""
    article, capture = check.known, check.capture
    for url, kind in ((capture.url, "alias"), (check.fetched_url, "redirect")):
        if normalize_url_or_none(url) not in (None, article.canonical_url):
            _add_alias(check.session, article.id, url, kind, check.at)
    if capture.relevance is not None:
        article.relevance = capture.relevance
    return None


def _confirmation(check: _Check) -> RecordResult | None:
    """The key text: furniture masked and, with a second fetch, only what both agree on.

    Two fetches that agree on less than half the text are suspect
    (docs/versions.md, Confirmation re-fetch).
    """
    capture, extracted = check.capture, check.page
    patterns = capture.ignore_patterns
    ahead = (
        capture.derived.key_for(patterns) if capture.derived is not None and not check.did_extract else None
    )
    check.key = ahead if ahead is not None else key_text(extracted.text, patterns)
    if capture.confirm is None:
        return None
    second = _confirming_extraction(capture, extracted, check.extractor, check.fetched_url)
    if second is None:
        return None
    check.second = second = storable(second)
    agreed = confirmed_key_text(extracted.text, second.text, patterns)
    if len(agreed) < len(check.key) * MIN_AGREEMENT:
        return check.fetch_only(FetchOutcome.SUSPECT, "the confirming re-fetch disagrees")
    check.key = agreed
    return None


def _same_state(check: _Check) -> RecordResult | None:
    """The current version's state (furniture masked): unchanged.

    docs/versions.md, What makes a new version; docs/versions.md, Furniture and volatile text.
    """
    extracted = check.page
    check.state = state = _state(extracted, key=check.key)
    current = check.live
    if current is None:
        return None
    if (
        check.second is not None
        and _version_state(current)[1:] == state[1:]
        and only_rotated_since(current.text, extracted.text, check.second.text, check.capture.ignore_patterns)
    ):
        # The current version was recorded from one fetch (a new article): its per-request
        # furniture is in its key, and the confirmed pair shows that slot rotates.
        check.state = state = _version_state(current)
    if _version_state(current) == state:
        current.last_seen = max(current.last_seen, check.at)
        check.known.last_raw_sha256 = check.raw_digest
        _clear_pending(check.known)
        result = check.fetch_only(FetchOutcome.UNCHANGED, None, version=current)
        return replace(result, extracted=check.did_extract)
    return None


def _encoding_damage(check: _Check) -> RecordResult | None:
    """Mis-decoded text that, repaired, is the archived text: unchanged; mojibake: suspect.

    docs/versions.md, Encoding damage.
    """
    extracted, current = check.page, check.live
    encoding = extracted.encoding
    if current is None or not encoding or encoding.replace("-", "").lower() in ("utf8", "ascii"):
        return None
    misdecoded = health.misdecoded(extracted, current, check.capture.ignore_patterns)
    if misdecoded is None:
        return None
    if misdecoded:
        current.last_seen = max(current.last_seen, check.at)
        _clear_pending(check.known)
        message = f"page mis-decoded as {encoding}; repaired, it is the archived text"
        return check.fetch_only(FetchOutcome.UNCHANGED, message, version=current)
    message = f"mojibake: page mis-decoded as {encoding}; not comparable with the stored text"
    return check.fetch_only(FetchOutcome.SUSPECT, message)


def _suspect(check: _Check) -> RecordResult | None:
    """Walls, error pages, collapsed text: no version until the next check sees the same state.

    docs/versions.md, Suspect fetches. A soft 404 of a known article is a removal
    (docs/versions.md, Removals); lossy decoding of the archived text is no edit
    (docs/versions.md, Encoding damage).
    """
    article, current, live = check.known, check.current, check.live
    suspicion = check.suspicion(current)
    if suspicion is None:
        return None
    if suspicion.label == "soft-404" and current is not None:
        return _record_removed(check.session, check.capture, article, suspicion.message, soft=True)
    if suspicion.label == "lossy" and live is not None:
        if lossy_matches(check.key, key_text(live.text, check.capture.ignore_patterns)):
            live.last_seen = max(live.last_seen, check.at)
            _clear_pending(article)
            message = "lossy decoding of the archived text (not an edit)"
            return check.fetch_only(FetchOutcome.UNCHANGED, message, version=live)
    if not (suspicion.confirmable and live is not None) or not _confirmed(
        article, suspicion.label, check.page_state, check.at
    ):
        result = check.fetch_only(FetchOutcome.SUSPECT, suspicion.message)
        if article.pending_label == suspicion.label:
            _recheck_soon(article, check.at)
        return result
    check.label = suspicion.label  # the same suspect state on consecutive checks: it is real
    return None


def _accepted(check: _Check) -> RecordResult | None:
    """Not a rule: a fetch that gets this far cancels a pending removal or suspect state
    (docs/versions.md, Removals), and its validators are kept for the next conditional GET
    (docs/versions.md, Short-circuits)."""
    article, capture = check.known, check.capture
    _clear_pending(article)
    if capture.etag or capture.last_modified:
        article.etag, article.last_modified = capture.etag, capture.last_modified
    article.last_raw_sha256 = check.raw_digest
    return None


def _return_to_earlier(check: _Check) -> RecordResult | None:
    """A return to an earlier state is flagged; once the page has gone back, alternating adds no versions.

    docs/versions.md, Flip-flops.
    """
    current = check.live
    if current is None:
        return None
    article = check.known
    # A confirmed suspect state too: while the page shows an older version (current_seq),
    # a collapse back to the latest version's state is that version again, not a copy of it.
    earlier = _earlier_version_with(check.session, article, check.page_state, current)
    if earlier is None:
        return None
    if article.current_seq is not None or any(f.startswith("revert-to:") for f in current.flags):
        result = _flip_flop(check.session, check.capture, article, current, earlier, check.raw_digest)
        return replace(result, extracted=check.did_extract)
    if check.label is None:
        check.revert_to = earlier.seq
    return None


# The rules in docs/versions.md's order (``record_fetch``).
_RULES: tuple[_Rule, ...] = (
    _unusable_url,
    _look_up,  # not a rule
    _reimported,
    _no_usable_response,
    _gone,
    _not_modified,
    _unexpected_status,
    _redirected_home,
    _older_than_history,
    _same_raw_bytes,
    _extraction,
    _new_url,
    _note_urls,  # not a rule
    _confirmation,
    _same_state,
    _encoding_damage,
    _suspect,
    _accepted,  # not a rule
    _return_to_earlier,
)
# The rules up to the short-circuits (304, the same raw bytes): they read the article and its
# latest and current versions, and write at most a fetch row (record_batch).
_SHORT_CIRCUITS = _RULES.index(_same_raw_bytes) + 1


def _new_version(check: _Check) -> RecordResult:
    """Anything else is a new version, linked to its republished copies.

    docs/versions.md, What makes a new version; docs/versions.md, Republication links.
    """
    session, capture, article, extracted = check.session, check.capture, check.known, check.page
    current, label, key = check.current, check.label, check.key
    if current is None:
        kind = ChangeKind.FIRST
    elif current.change_kind == ChangeKind.REMOVED:
        kind = ChangeKind.RESTORED
    elif current.text_sha256 != check.page_state[0]:
        kind = ChangeKind.TEXT
    else:
        kind = ChangeKind.METADATA
    flags = extraction_flags(extracted)
    if label is not None:
        flags.append(label)
    if check.revert_to is not None:
        flags.append(f"revert-to:{check.revert_to}")

    with session.no_autoflush:  # a blob depends on nothing pending
        blob_digest = (
            put_blob(session, capture.raw, check.raw_digest, compressed=_compressed(capture))
            if capture.raw is not None
            else None
        )
    # Set before _add_version flushes, with the check times the fetch row sets again: the
    # article's row is updated once, not three times.
    article.status = ArticleStatus.LIVE
    article.last_changed = check.at
    article.current_seq = None
    _note_check(article, capture)
    version = _add_version(session, article, extracted, kind, check.at, blob_digest, flags, key=key)
    if label is None and kind != ChangeKind.METADATA:
        ready = (
            capture.derived.dedup_for(key) if capture.derived is not None and not check.did_extract else None
        )
        dedup.index_version(session, article, version, key, precomputed=ready)
    result = check.fetch_only(FetchOutcome.NEW_VERSION, None, version=version)
    return replace(
        result,
        version_seq=version.seq,
        change_kind=kind,
        new_article=check.new_article,
        extracted=check.did_extract,
        flags=tuple(flags),
    )


def raw_sha256_of(capture: Capture) -> str | None:
    """The SHA-256 of the capture's raw bytes: the one derived ahead when there is one."""
    if capture.raw is None:
        return None
    if capture.derived is not None and capture.derived.raw_sha256 is not None:
        return capture.derived.raw_sha256
    return sha256_hex(capture.raw)


def _compressed(capture: Capture) -> bytes | None:
    return capture.derived.compressed if capture.derived is not None else None


def _confirming_extraction(
    capture: Capture, extracted: Extracted, extractor: Callable[..., Extracted], url: str
) -> Extracted | None:
    confirm = capture.confirm
    if isinstance(confirm, Extracted):
        return confirm
    if confirm is None or confirm == capture.raw:
        return extracted if confirm is not None else None
    try:
        return extractor(confirm, url=url, content_type=capture.content_type)
    except ExtractionError as exc:
        logger.info("confirming fetch of %s not extractable: %s", capture.url, exc)
        return None


def _clear_pending(article: Article) -> None:
    if article.pending_label is not None or article.pending_count:
        article.pending_key = article.pending_label = article.pending_since = None
        article.pending_count = 0


def _recheck_soon(article: Article, at: datetime) -> None:
    soon = at + PENDING_RECHECK
    if article.next_check is None or article.next_check > soon:
        article.next_check = soon


def _confirmed(article: Article, label: str, state: State, at: datetime) -> bool:
    """Count one more observation of a suspect state; True once it is confirmed."""
    pending = key_digest("\x00".join([label, *(part or "" for part in state)]))
    if article.pending_label == label and article.pending_key == pending:
        article.pending_count += 1
    else:
        article.pending_label, article.pending_key = label, pending
        article.pending_count, article.pending_since = 1, at
    return article.pending_count >= SUSPECT_CONFIRMATIONS


def _earlier_version_with(
    session: Session, article: Article, state: State, current: Version
) -> Version | None:
    """The most recent earlier version (within the window) whose state this is."""
    candidates = session.scalars(
        select(Version)
        .where(
            Version.article_id == article.id,
            Version.text_sha256 == state[0],
            Version.seq > article.version_count - FLIP_FLOP_WINDOW,
            Version.id != current.id,
        )
        .order_by(Version.seq.desc())
    )
    for version in candidates:
        if (
            version.change_kind not in (ChangeKind.REMOVED, ChangeKind.REDERIVED)
            and _version_state(version) == state
        ):
            return version
    return None


def _flip_flop(
    session: Session,
    capture: Capture,
    article: Article,
    current: Version,
    earlier: Version,
    raw_digest: str | None,
) -> RecordResult:
    """The page alternates between versions already archived: attribute, flag, add nothing."""
    for version in (earlier, current):
        if "flip-flop" not in version.flags:
            version.flags = [*version.flags, "flip-flop"]
    stats.note_flip_flop(session, [earlier.id, current.id])
    earlier.last_seen = max(earlier.last_seen, capture.fetched_at)
    article.current_seq = None if earlier.seq == article.version_count else earlier.seq
    article.last_raw_sha256 = raw_digest
    message = f"flip-flop: back to version {earlier.seq}"
    result = _fetch_only(session, capture, article, FetchOutcome.UNCHANGED, message, version=earlier)
    return replace(result, version_seq=earlier.seq, flags=("flip-flop",))


def _already_recorded(session: Session, article_id: int, capture: Capture) -> bool:
    return (
        session.scalar(
            select(Fetch.id)
            .where(
                Fetch.article_id == article_id,
                Fetch.fetched_at == capture.fetched_at,
                Fetch.origin == capture.origin,
                Fetch.http_status == capture.status,
            )
            .limit(1)
        )
        is not None
    )


def _record_out_of_order(
    session: Session, capture: Capture, article: Article, extractor: Callable[..., Extracted]
) -> RecordResult:
    """A capture older than the latest version: evidence for the version current then.

    Versions are numbered in the order they were observed, so an older state arriving late is
    never spliced into the middle of a history; it is recorded as a fetch and, when it does
    not match the version current at that moment, flagged.
    """
    at = capture.fetched_at
    current = session.scalar(
        select(Version)
        .where(Version.article_id == article.id, Version.first_seen <= at)
        .order_by(Version.seq.desc())
        .limit(1)
    )
    extracted = capture.extracted
    if extracted is None and capture.raw is not None and 200 <= (capture.status or 0) < 300:
        try:
            extracted = extractor(capture.raw, url=capture.url, content_type=capture.content_type)
        except ExtractionError as exc:
            return _fetch_only(session, capture, article, FetchOutcome.SUSPECT, str(exc))
    if (
        current is not None
        and extracted is not None
        and _version_state(current) == _state(storable(extracted), capture.ignore_patterns)
    ):
        return _fetch_only(session, capture, article, FetchOutcome.UNCHANGED, None, version=current)
    return _fetch_only(
        session,
        capture,
        article,
        FetchOutcome.SUSPECT,
        "capture older than the archived history and not matching the version current then",
    )


def _add_version(
    session: Session,
    article: Article,
    extracted: Extracted,
    kind: ChangeKind,
    at: datetime,
    blob_digest: str | None,
    flags: list[str],
    *,
    key: str | None = None,
) -> Version:
    article.version_count += 1
    values: dict[str, Any] = {
        "article_id": article.id,
        "seq": article.version_count,
        "first_seen": at,
        "last_seen": at,
        "title": extracted.title,
        "byline": extracted.byline,
        "published": extracted.published,
        "modified": extracted.modified,
        "language": extracted.language,
        "sitename": extracted.sitename,
        "text": extracted.text,
        "text_sha256": key_digest(key if key is not None else key_text(extracted.text)),
        "extractor": extracted.extractor,
        "change_kind": kind,
        "flags": flags,
        "blob_sha256": blob_digest,
    }
    # On the connection (the article's row exists: its pending changes, the version count among
    # them, are flushed with the next statement through the session or at commit).
    version_id = session.connection().scalar(_INSERT_VERSION, values)
    version = attach_inserted(session, Version, {"id": version_id, **values})
    stats.note_version(session, version)
    return version


_INSERT_VERSION = insert(Version).returning(Version.id)


def _record_removed(
    session: Session, capture: Capture, article: Article | None, message: str, *, soft: bool = False
) -> RecordResult:
    """A check saying the article is gone; recorded as a removal once a later check confirms it."""
    if article is None:
        return _fetch_only(session, capture, None, FetchOutcome.REMOVED, message)
    at = capture.fetched_at
    latest = latest_version(session, article.id)
    if latest is None or latest.change_kind == ChangeKind.REMOVED:
        if latest is not None:
            latest.last_seen = max(latest.last_seen, at)
        return _fetch_only(session, capture, article, FetchOutcome.REMOVED, message, version=latest)
    if article.pending_label != "removed":
        article.pending_label, article.pending_key = "removed", None
        article.pending_count, article.pending_since = 1, at
    else:
        article.pending_count += 1
    since = article.pending_since or at
    if article.pending_count < 2 or at - since < removal_confirm_after():
        # One check is not enough: a transient 404, a deploy, a CDN hiccup.
        result = _fetch_only(
            session, capture, article, FetchOutcome.REMOVED, f"{message} (unconfirmed; re-checking)"
        )
        _recheck_soon(article, at)
        return result
    _clear_pending(article)
    removed = Extracted(text="", title=latest.title, byline=latest.byline, extractor=latest.extractor)
    flags = ["soft-404"] if soft else []
    version = _add_version(session, article, removed, ChangeKind.REMOVED, at, None, flags)
    article.status = ArticleStatus.REMOVED
    article.last_changed = at
    article.last_raw_sha256 = None
    article.current_seq = None
    result = _fetch_only(session, capture, article, FetchOutcome.REMOVED, message, version=version)
    return replace(result, version_seq=version.seq, change_kind=ChangeKind.REMOVED, flags=tuple(flags))


def _fetch_only(
    session: Session,
    capture: Capture,
    article: Article | None,
    outcome: FetchOutcome,
    message: str | None,
    *,
    version: Version | None = None,
) -> RecordResult:
    row = _fetch_row(capture, article, outcome, message, version)
    # On the connection, not through the session's ORM bulk-insert layer (it costs more than the
    # insert); the article's check times _fetch_row just set are flushed with the next statement
    # that goes through the session, or at commit.
    fetch_id = session.connection().scalar(_INSERT_FETCH, row)
    return RecordResult(
        outcome=outcome,
        article_id=article.id if article is not None else None,
        fetch_id=fetch_id,
        message=message,
    )


_INSERT_FETCH = insert(Fetch).returning(Fetch.id)


def _note_check(article: Article, capture: Capture) -> None:
    """The article's check times after this capture (set again with the same values: no change)."""
    at = capture.fetched_at
    article.last_checked = max(article.last_checked, at) if article.last_checked else at
    if capture.origin == FetchOrigin.CRAWL:
        article.next_check = next_check(
            first_seen=article.first_seen,
            last_changed=article.last_changed,
            checked_at=at,
            ladder=capture.revisit_ladder or DEFAULT_LADDER,
        )


def _fetch_row(
    capture: Capture,
    article: Article | None,
    outcome: FetchOutcome,
    message: str | None,
    version: Version | None,
) -> dict[str, Any]:
    """The fetch row of a check (its columns), the article's check times updated."""
    at = capture.fetched_at
    if article is not None:
        _note_check(article, capture)
    if outcome in (FetchOutcome.SUSPECT, FetchOutcome.ERROR):
        logger.info("%s %s: %s", outcome.value, capture.url, message)
    return {
        "article_id": article.id if article is not None else None,
        "version_id": version.id if version is not None else None,
        "crawl_run_id": capture.crawl_run_id,
        "source_id": capture.source_id,
        "fetched_at": at,
        "url": capture.url[:4096],
        "http_status": capture.status,
        "etag": capture.etag,
        "last_modified": capture.last_modified,
        "raw_sha256": raw_sha256_of(capture),
        "outcome": outcome,
        "message": message[:2000] if message else None,
        "origin": capture.origin,
        "http_headers": capture.http_headers or _content_type_header(capture),
        "warc_record_id": capture.warc_record_id,
    }


def _content_type_header(capture: Capture) -> list[list[str]] | None:
    """The Content-Type a page's bytes came with, kept with its fetch: its charset decides how
    the bytes read (before the page's own declaration), so ``rederive`` decodes them the same way."""
    if capture.raw is None or not capture.content_type:
        return None
    from archive.warcrecords import header_value

    return [["Content-Type", header_value(capture.content_type)]]


# ---------------------------------------------------------------------------------------------
# A batch of checks in one transaction


@dataclass(frozen=True)
class _LookedUp:
    """What ``_look_up`` and the short-circuits would read for one capture of a batch."""

    article: Article | None
    latest: Version | None = None
    current: Version | None = None


def record_batch(
    session: Session, batch: Sequence[tuple[Capture, Callable[..., Extracted]]]
) -> list[RecordResult]:
    """``record_fetch`` of each ``(capture, extractor)``, in order, in the caller's transaction:
    the same rows and results, with fewer statements.

    The articles the captures lead to and their latest and current versions are looked up for
    the whole batch at once (a few queries instead of a few per capture), and the fetch rows of
    the checks the short-circuits decide (a 304, the same raw bytes) are inserted together: an
    unchanged revisit costs no statement of its own. Those checks change no look-up, so the
    batch's look-ups stay valid across them. A capture that goes further (a new version, a new
    article, a removal) changes the look-ups of the captures after it only through its article
    (its versions, its canonical URL, the URLs it was fetched at): those look-ups are done again
    when a capture after it leads to that article or to one of those URLs.
    """
    results: list[RecordResult] = []
    rows: list[dict[str, Any]] = []
    waiting: list[int] = []  # the results whose fetch row is in ``rows``
    ahead: list[_LookedUp] | None = None  # for batch[len(results):], while valid
    keys_by_index: dict[int, set[str]] = {}  # computed once when needed

    def keys_of(index: int) -> set[str]:
        if index not in keys_by_index:
            keys_by_index[index] = look_up_keys(batch[index][0])
        return keys_by_index[index]

    def insert_rows() -> None:
        if rows:
            fetches = insert(Fetch).returning(Fetch.id, sort_by_parameter_order=True)
            ids = session.connection().scalars(fetches, rows).all()
            for index, fetch_id in zip(waiting, ids, strict=True):
                results[index] = replace(results[index], fetch_id=fetch_id)
            rows.clear()
            waiting.clear()

    for capture, extractor in batch:
        rest = batch[len(results) :]
        if ahead is None:
            ahead = _look_ahead(session, [c for c, _ in rest])
        _require_aware(capture)
        check = _Check(session, capture, extractor, fetched_url=capture.final_url or capture.url)
        check.ahead = ahead.pop(0)
        first = 0  # the rule to go on from
        if _only_a_fetch_row(capture, check.ahead):
            check.rows, before = rows, len(rows)
            result = _first_decision(check, _RULES[:_SHORT_CIRCUITS])
            if result is not None:
                if len(rows) > before:
                    waiting.append(len(results))
                results.append(result)
                continue
            check.rows, first = None, _SHORT_CIRCUITS  # further than the short-circuits
        # The rows before this capture go in first, in order; what it writes may change the
        # look-ups of the captures after it.
        insert_rows()
        results.append(_decide(check, first))
        if _changes_look_ups(check, [keys_of(i) for i in range(len(results), len(batch))], ahead):
            ahead = None
    insert_rows()
    return results


def _changes_look_ups(check: _Check, rest: list[set[str]], ahead: list[_LookedUp]) -> bool:
    """Whether what ``check`` wrote may change the look-ups of the captures after it (``rest``:
    their ``look_up_keys``): one of them leads to its article (whose versions it may have
    added), or may lead to a URL it made an article's canonical URL or alias."""
    written = {check.fetched_key, normalize_url_or_none(check.capture.url)}
    if check.article is not None:
        written.add(check.article.canonical_url)
        touched = check.article.id
        if any(looked.article is not None and looked.article.id == touched for looked in ahead):
            return True
    written.discard(None)
    written.discard("")
    return any(not written.isdisjoint(keys) for keys in rest)


def look_up_keys(capture: Capture) -> set[str]:
    """Every canonical URL or alias ``find_article`` may match for this capture's URLs."""
    keys: set[str] = set()
    for url in (capture.url, capture.final_url):
        if url:
            keys.add(url)  # an alias may be matched as given
            key = normalize_url_or_none(url)
            if key is not None:
                keys.update((key, *url_variants(key)))
    return keys


def _only_a_fetch_row(capture: Capture, looked_up: _LookedUp) -> bool:
    """Whether the rules up to the short-circuits write at most a fetch row for this capture
    (its row can then wait for the batch's insert): no removal (404, 410, a redirect to the
    home page), no capture older than the article's history."""
    status = capture.status
    if capture.final_url or status is None or status in (404, 410):
        return False
    latest = looked_up.latest
    return latest is None or capture.fetched_at >= latest.first_seen


def _look_ahead(session: Session, captures: list[Capture]) -> list[_LookedUp]:
    """``_look_up`` and the versions the short-circuits read, for each capture, in a few queries."""
    urls = [url for c in captures for url in (c.url, c.final_url) if url]
    found = find_articles(session, urls)
    articles = [found[c.url] or (found[c.final_url] if c.final_url else None) for c in captures]
    known = {article.id: article for article in articles if article is not None}
    if known and session.get_bind().dialect.name == "postgresql":
        # Locked as _look_up locks each (in one statement, in id order).
        session.scalars(
            select(Article)
            .where(Article.id.in_(sorted(known)))
            .order_by(Article.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    versions = latest_and_current_versions(session, known.values())
    return [_LookedUp(a, *versions[a.id]) if a is not None else _LookedUp(None) for a in articles]


# ---------------------------------------------------------------------------------------------
# One transaction per fetch, with the loser of a race retried


def record(
    sessions: sessionmaker[Session],
    capture: Capture,
    *,
    extractor: Callable[..., Extracted] = extract,
    attempts: int = 5,
) -> RecordResult:
    """Record one capture in its own transaction; a lost race is retried against the winner."""
    return write_retrying(
        sessions, lambda session: record_fetch(session, capture, extractor=extractor), attempts=attempts
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
