"""Republication links: the same story under another URL or on another outlet.

*Exact* duplicates share the version key (digest of the normalised, furniture-free text).
*Near* duplicates are found in two steps. The **candidate search** is MinHash over word
3-shingles with locality-sensitive hashing; the LSH index lives in the database (``lsh_bucket``:
one row per band of each signature, keyed by a 64-bit hash of the band) so a look-up is one
indexed ``key IN (…)`` query that works across runs, processes and backends without rebuilding
anything in memory. The **confirmation** of a candidate reads its stored text and measures
*containment*: the share of the shorter text's shingles found in the longer one. Two outlets
carrying the same wire story each wrap it in their own furniture (captions, teasers, author
boxes, link lists), which dilutes the whole-text Jaccard similarity of the pair but not the
share of one copy found in the other. A pair is linked when the containment reaches the
threshold (default 0.6, ``MEDIAWATCH_DUPLICATE_THRESHOLD``) and the shorter text is at least a
fifth of the longer (a teaser found inside a full article is not a republication).

The bands are fixed (42 bands × 3 rows of a 128-value signature: a pair becomes a candidate with
probability 0.68 at a Jaccard of 0.3 and 0.99 at 0.5) so the threshold can be changed without
re-indexing. Versions indexed before (20 bands × 6 rows) keep their rows and are still looked
up through them. Duplicates are linked, never dropped; each link says which copy was seen first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from archive.db import insert_ignore
from archive.lookups import in_chunks, require_article
from archive.models import Article, DuplicateLink, LshBucket, TextSignature, Version
from archive.volatile import key_text

if TYPE_CHECKING:
    from datasketch import MinHash

logger = logging.getLogger(__name__)

NUM_PERM = 128
BANDS = 42
ROWS = 3
# The banding of versions indexed before containment: looked up, never written.
LEGACY_BANDS = 20
LEGACY_ROWS = 6
SHINGLE_WORDS = 3  # (shingles() spells the three out)
MIN_SHINGLES = 20  # shorter texts are linked only when exactly equal
DEFAULT_THRESHOLD = 0.6  # containment (share of the shorter text's shingles in the longer)
MIN_THRESHOLD = 0.5
# A candidate's text is read only when the signatures estimate at least this Jaccard similarity:
# the least similar pair the default rule can link (containment 0.6, the shorter text a fifth of
# the longer) has a Jaccard similarity of 0.11.
MIN_CANDIDATE_JACCARD = 0.1
MIN_SIZE_RATIO = 0.2  # the shorter text is at least this share of the longer
MAX_CANDIDATES = 200
SEED = 1
_WORD = re.compile(r"\w+", re.UNICODE)


def default_threshold() -> float:
    value = os.environ.get("MEDIAWATCH_DUPLICATE_THRESHOLD")
    if not value:
        return DEFAULT_THRESHOLD
    try:
        threshold = float(value)
    except ValueError:
        return DEFAULT_THRESHOLD
    return min(max(threshold, MIN_THRESHOLD), 1.0)


def shingles(text: str) -> set[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()} if words else set()
    # (SHINGLE_WORDS == 3, spelled out: a fifth faster than joining slices, on every page extracted)
    return {f"{a} {b} {c}".encode() for a, b, c in zip(words, words[1:], words[2:], strict=False)}


@lru_cache(maxsize=1)
def _template() -> MinHash:
    # Imported here: the datasketch package pulls in SciPy (over a second), which every command
    # (and a second crawl refused by the run lock) would otherwise pay before doing anything.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED)


def signature(text: str, grams: set[bytes] | None = None) -> np.ndarray | None:
    """The MinHash signature (uint32 × 128) of a text's word shingles; None when too short."""
    grams = shingles(text) if grams is None else grams
    if len(grams) < MIN_SHINGLES:
        return None
    minhash = _template().copy()
    minhash.update_batch(list(grams))
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def band_keys(hashvalues: np.ndarray, bands: int = BANDS, rows: int = ROWS) -> list[int]:
    """One signed 64-bit key per band (the band number is hashed in, so one index serves all).

    The two bandings never share a key: their bands hash chunks of different lengths.
    """
    data = hashvalues.astype("<u4").tobytes()  # once: slicing bytes is cheaper than the array
    width = 4 * rows
    keys = []
    for band in range(bands):
        chunk = data[band * width : (band + 1) * width]
        digest = hashlib.blake2b(band.to_bytes(2, "little") + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def lookup_keys(hashvalues: np.ndarray) -> list[int]:
    """The band keys a look-up asks for: today's banding and the one of older versions."""
    return band_keys(hashvalues) + band_keys(hashvalues, LEGACY_BANDS, LEGACY_ROWS)


def to_bytes(hashvalues: np.ndarray) -> bytes:
    return hashvalues.astype("<u4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The Jaccard similarity two signatures estimate."""
    return float(np.count_nonzero(a == b)) / float(len(a))


def containment(a: Set[bytes], b: Set[bytes]) -> float:
    """The share of the smaller shingle set found in the larger (0 when either is empty)."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return len(small & large) / len(small) if small else 0.0


def same_story(a: Set[bytes], b: Set[bytes], threshold: float | None = None) -> float | None:
    """The containment of two texts' shingles when they carry the same story, else None.

    The same story: the shorter text has at least ``MIN_SHINGLES`` shingles and is at least
    ``MIN_SIZE_RATIO`` of the longer, and at least ``threshold`` of its shingles are in the longer.
    """
    threshold = default_threshold() if threshold is None else threshold
    small, large = sorted((len(a), len(b)))
    if small < MIN_SHINGLES or small < large * MIN_SIZE_RATIO:
        return None
    share = containment(a, b)
    return share if share >= threshold else None


# ---------------------------------------------------------------------------------------------
# Writing (called by the store, inside the version's transaction)


@dataclass(frozen=True)
class Link:
    other_id: int
    kind: str
    similarity: float


# Built once: the writer runs these for every new version, and building a statement (and its
# cache key) costs more than SQLite takes to run it.
_SHARED = func.count().label("shared")
_BUCKET_PAIRS = (
    select(LshBucket.article_id, LshBucket.version_id, _SHARED)
    .where(LshBucket.key.in_(bindparam("keys", expanding=True)))
    .group_by(LshBucket.article_id, LshBucket.version_id)
    .order_by(_SHARED.desc(), LshBucket.version_id)
    .limit(bindparam("limit"))
)
_BUCKET_PAIRS_OF_OTHERS = _BUCKET_PAIRS.where(LshBucket.article_id != bindparam("exclude"))
_SIGNATURES = select(TextSignature.version_id, TextSignature.hashvalues).where(
    TextSignature.version_id.in_(bindparam("versions", expanding=True))
)
_SAME_TEXT_ELSEWHERE = (
    select(Version.article_id)
    .where(Version.text_sha256 == bindparam("sha"), Version.article_id != bindparam("article"))
    .distinct()
    .limit(bindparam("limit"))
)
_TEXTS = select(Version.id, Version.text).where(Version.id.in_(bindparam("ids", expanding=True)))
_INSERT_SIGNATURE = insert(TextSignature)


def near_candidates(
    session: Session, hashvalues: np.ndarray, *, exclude_article: int | None = None
) -> list[tuple[int, int, np.ndarray]]:
    """(article id, version id, signature) of stored texts sharing at least one LSH band.

    At most ``MAX_CANDIDATES``, those sharing the most bands first (the most similar).
    """
    connection = session.connection()
    params: dict[str, Any] = {"keys": lookup_keys(hashvalues), "limit": MAX_CANDIDATES}
    if exclude_article is None:
        pairs = connection.execute(_BUCKET_PAIRS, params).all()
    else:
        pairs = connection.execute(_BUCKET_PAIRS_OF_OTHERS, {**params, "exclude": exclude_article}).all()
    if not pairs:
        return []
    rows = connection.execute(_SIGNATURES, {"versions": [version_id for _, version_id, _shared in pairs]})
    by_version = {version_id: from_bytes(data) for version_id, data in rows}
    return [(a, v, by_version[v]) for a, v, _shared in pairs if v in by_version]


def index_version(
    session: Session,
    article: Article,
    version: Version,
    key: str,
    *,
    threshold: float | None = None,
    precomputed: tuple[Set[bytes], np.ndarray | None] | None = None,
) -> list[Link]:
    """Index one new version's text and link its article to the articles carrying the same story.

    ``key`` is the version's key text (see ``volatile.key_text``); a candidate's is computed from
    its stored text with the default furniture patterns. ``precomputed``: the key's shingles and
    signature when the caller derived them already (``archive.derive``), else they are computed.
    """
    threshold = default_threshold() if threshold is None else threshold
    found: dict[int, Link] = {}
    # Every statement here goes to the connection and reads only rows inserted on it (versions,
    # signatures, buckets, other articles' first sighting), none of what the session holds
    # pending (an article's check times and version count, a re-derived version's times): those
    # are flushed with the next statement through the session or at commit, a batch's together.
    connection = session.connection()
    exact = connection.scalars(
        _SAME_TEXT_ELSEWHERE, {"sha": version.text_sha256, "article": article.id, "limit": MAX_CANDIDATES}
    ).all()
    for other in exact:
        found[other] = Link(other, "exact", 1.0)

    if precomputed is not None:
        grams, hashvalues = precomputed
    else:
        grams = shingles(key)
        hashvalues = signature(key, grams)
    if hashvalues is not None:
        candidates = [
            (other, version_id)
            for other, version_id, other_values in near_candidates(
                session, hashvalues, exclude_article=article.id
            )
            if jaccard(hashvalues, other_values) >= MIN_CANDIDATE_JACCARD
        ]
        texts = dict(
            connection.execute(_TEXTS, {"ids": [v for _, v in candidates]}).all() if candidates else []
        )
        for other, version_id in candidates:
            if version_id not in texts:
                continue
            similarity = same_story(grams, candidate_shingles(texts[version_id]), threshold)
            if similarity is None or (other in found and found[other].similarity >= similarity):
                continue
            found[other] = Link(other, "exact" if other in exact else "near", similarity)
        connection.execute(
            _INSERT_SIGNATURE,
            {
                "version_id": version.id,
                "article_id": article.id,
                "num_perm": NUM_PERM,
                "hashvalues": to_bytes(hashvalues),
            },
        )
        connection.execute(
            insert_ignore(session, LshBucket),
            [
                {"key": k, "version_id": version.id, "article_id": article.id}
                for k in set(band_keys(hashvalues))
            ],
        )
    _link_all(session, article, list(found.values()), version.first_seen)
    if found:
        logger.info("article %s: %d republication link(s)", article.id, len(found))
    return list(found.values())


@lru_cache(maxsize=256)
def candidate_shingles(text: str) -> frozenset[bytes]:
    """The shingles of a stored text's key (default patterns), kept for the next look-up: a
    story carried by many outlets is the candidate of each new copy, and a version's text never
    changes, so its key is worked out once per process, not once per copy."""
    return frozenset(shingles(key_text(text)))


_FIRST_SEEN = select(Article.id, Article.first_seen).where(Article.id.in_(bindparam("ids", expanding=True)))
_EXISTING_LINKS = select(
    DuplicateLink.id,
    DuplicateLink.article_id,
    DuplicateLink.other_id,
    DuplicateLink.kind,
    DuplicateLink.similarity,
).where(
    or_(
        and_(
            DuplicateLink.article_id == bindparam("article"),
            DuplicateLink.other_id.in_(bindparam("others", expanding=True)),
        ),
        and_(
            DuplicateLink.other_id == bindparam("article"),
            DuplicateLink.article_id.in_(bindparam("others", expanding=True)),
        ),
    )
)
_UPDATE_LINK = (
    update(DuplicateLink)
    .where(DuplicateLink.id == bindparam("link_id"))
    .values(kind=bindparam("new_kind"), similarity=bindparam("new_similarity"))
)


def _link_all(session: Session, article: Article, links: list[Link], at: datetime) -> None:
    """Record each link of the article (a pair once, whichever was seen first): new pairs are
    inserted, a known pair is raised to a higher similarity or to exact. A version of a
    much-republished story links to dozens of articles, so the pairs are read in two queries
    and inserted in one statement, on the connection (the articles' ``first_seen``, the only
    article column read, is set when an article is inserted and never changes)."""
    if not links:
        return
    connection = session.connection()
    others = [link.other_id for link in links]
    first_seen: dict[int, datetime | None] = {}
    existing: dict[tuple[int, int], Any] = {}
    for chunk in in_chunks(others):
        first_seen.update(
            (row.id, row.first_seen) for row in connection.execute(_FIRST_SEEN, {"ids": list(chunk)})
        )
        for row in connection.execute(_EXISTING_LINKS, {"article": article.id, "others": list(chunk)}):
            existing[(row.article_id, row.other_id)] = row
    inserts = []
    for link in links:
        low, high = sorted((article.id, link.other_id))
        similarity = round(link.similarity, 4)
        known = existing.get((low, high))
        if known is None:
            other_first = first_seen.get(link.other_id)
            first = (
                link.other_id if other_first is not None and other_first <= article.first_seen else article.id
            )
            inserts.append(
                {
                    "article_id": low,
                    "other_id": high,
                    "kind": link.kind,
                    "similarity": similarity,
                    "first_article_id": first,
                    "found_at": at,
                }
            )
        elif link.similarity > known.similarity or (link.kind == "exact" and known.kind != "exact"):
            connection.execute(
                _UPDATE_LINK, {"link_id": known.id, "new_kind": link.kind, "new_similarity": similarity}
            )
    if inserts:
        connection.execute(insert_ignore(session, DuplicateLink), inserts)


# ---------------------------------------------------------------------------------------------
# Reading (CLI ``duplicates`` and the viewer's "also published at")


@dataclass(frozen=True)
class Duplicate:
    """Another article carrying the same story as the one asked about."""

    article_id: int
    url: str
    kind: str  # "exact" | "near"
    similarity: float
    first_seen: datetime
    seen_first: bool  # this other copy was archived before the one asked about
    title: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "url": self.url,
            "kind": self.kind,
            "similarity": self.similarity,
            "first_seen": self.first_seen.isoformat(),
            "seen_first": self.seen_first,
            "title": self.title,
        }


def duplicates_of(session: Session, article_id: int, *, limit: int = 1000) -> list[Duplicate]:
    """Articles linked to ``article_id`` as republications (at most ``limit``), most similar first."""
    links = session.scalars(
        select(DuplicateLink)
        .where((DuplicateLink.article_id == article_id) | (DuplicateLink.other_id == article_id))
        .order_by(DuplicateLink.similarity.desc(), DuplicateLink.id)
        .limit(limit)
    ).all()
    result = []
    for link in links:
        other_id = link.other_id if link.article_id == article_id else link.article_id
        other = session.get(Article, other_id)
        if other is None:
            continue
        title = session.scalar(
            select(Version.title).where(Version.article_id == other_id).order_by(Version.seq.desc()).limit(1)
        )
        result.append(
            Duplicate(
                article_id=other_id,
                url=other.canonical_url,
                kind=link.kind,
                similarity=link.similarity,
                first_seen=other.first_seen,
                seen_first=link.first_article_id == other_id,
                title=title,
            )
        )
    result.sort(key=lambda d: (-d.similarity, d.first_seen, d.article_id))
    return result


def duplicates_for_url(session: Session, url: str) -> tuple[Article, list[Duplicate]]:
    """The article a URL leads to and its linked copies (raises NotFoundError)."""
    article = require_article(session, url)
    return article, duplicates_of(session, article.id)


def bucket_rows(version_id: int, article_id: int, hashvalues: np.ndarray) -> Iterable[dict[str, int]]:
    """Rows of ``lsh_bucket`` for one signature (used by bulk loaders and the benchmark)."""
    for key in set(band_keys(hashvalues)):
        yield {"key": key, "version_id": version_id, "article_id": article_id}
