"""Full-text search over the text of every version: SQLite FTS5 and PostgreSQL behind one interface.

User input never reaches SQL text. A query is parsed here into words, ``"quoted phrases"``,
``prefix*`` words, ``OR`` between alternatives and ``-word`` / ``-"phrase"`` exclusions
(everything else — FTS operators, parentheses, column filters, quotes left open — is treated as
plain text). One parsed tree is then compiled for each backend over bound parameters: each FTS5
term becomes a quoted FTS5 string joined by FTS5's own OR/NOT; each PostgreSQL term
``phraseto_tsquery('simple', :param)`` joined by tsquery's ``||``/``&&``/``!!``. Both backends
therefore read a query the same way (the web-search reading: words are ANDed, OR binds two
neighbours, a leading minus excludes). A query with nothing searchable is a clear
:class:`SearchError`, never a 500.

The index objects are created by migration ``0003_search`` and are not ORM models.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Integer, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from archive.errors import InputError
from archive.serialize import json_field

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
MAX_LIMIT = 100
# Counting matches stops here: "1000+ articles" is as useful as an exact figure and bounded.
COUNT_CAP = 1000
# Snippet highlight markers: private-use characters, turned into <mark> by renderers after escaping.
MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"
_MARKS = re.compile(f"[{MARK_OPEN}{MARK_CLOSE}]")
_WORD = re.compile(r"\w", re.UNICODE)
_PREFIX_WORD = re.compile(r"^(\w{2,})\*$", re.UNICODE)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


class SearchError(InputError):
    """The query cannot be searched (empty, too long); the message says why."""


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False
    prefix: bool = False

    def describe(self) -> str:
        return f'"{self.text}"' if self.phrase else f"{self.text}*" if self.prefix else self.text


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: every group must match (AND), any term of a group will do (OR), and no
    excluded term may match (NOT)."""

    raw: str
    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every term searched for (not the excluded ones), in order."""
        return tuple(term for group in self.groups for term in group)

    def describe(self) -> str:
        parts = []
        for group in self.groups:
            words = " OR ".join(term.describe() for term in group)
            parts.append(f"({words})" if len(group) > 1 and len(self.groups) > 1 else words)
        parts.extend("-" + term.describe() for term in self.excluded)
        return " ".join(parts)


# A token: a "quoted phrase" (optionally -"excluded"), else a run of non-space characters.
# A quote left open is no phrase: it is then part of a plain token, and dropped as punctuation.
_TOKEN = re.compile(r'(-?)"([^"]*)"|(\S+)')
_OR = "OR"


def _term(text: str, *, quoted: bool) -> Term | None:
    """One term from a token's text, or None when it holds nothing searchable."""
    if not quoted:
        prefix = _PREFIX_WORD.match(text)
        if prefix:
            return Term(prefix.group(1), prefix=True)
    words = _NON_WORD.sub(" ", text).split()
    if not words:
        return None
    # "covid-19", "u.s." — the tokenizers split these too: search them as a phrase.
    return Term(" ".join(words), phrase=len(words) > 1)


def parse_query(raw: str) -> SearchQuery:
    """Parse the search syntax (docs/archivist.md, Search): words, "quoted phrases", prefix*,
    ``OR`` between alternatives and ``-`` before a word or phrase to exclude it.

    Anything else — FTS operators (AND, NEAR, ^), column filters, parentheses, quotes left
    open — is plain text. Raises SearchError with a clear message.
    """
    if raw is None or not raw.strip():
        raise SearchError("empty search: type one or more words")
    if len(raw) > MAX_QUERY_CHARS:
        raise SearchError(f"search query too long (more than {MAX_QUERY_CHARS} characters)")
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False  # an OR was just read after a wanted term
    for match in _TOKEN.finditer(raw):
        minus, phrase, bare = match.groups()
        if bare == _OR:
            joining = bool(groups)  # an OR with nothing wanted before it is ignored
            continue
        if phrase is not None:
            negated, term = bool(minus), _term(phrase, quoted=True)
        else:
            negated = bare.startswith("-") and len(bare) > 1
            term = _term(bare[1:] if negated else bare, quoted=False)
        if term is None:
            continue
        if negated:
            excluded.append(term)
            joining = False
        elif joining:
            groups[-1].append(term)
            joining = False
        else:
            groups.append([term])
    if not groups:
        if excluded:
            raise SearchError(f"nothing to search for in {raw!r}: -word only excludes; add a word to find")
        raise SearchError(f'nothing to search for in {raw!r}: use words, "phrases" or prefix*')
    if sum(map(len, groups)) + len(excluded) > MAX_TERMS:
        raise SearchError(f"too many search terms (at most {MAX_TERMS})")
    return SearchQuery(raw, tuple(tuple(group) for group in groups), tuple(excluded))


def _fts5_term(term: Term) -> str:
    return '"' + term.text.replace('"', '""') + '"' + ("*" if term.prefix else "")


def fts5_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH string: every term an FTS5 string (``"…"``, prefixes with a trailing ``*``),
    so no user text is ever read as an FTS5 operator; only OR, NOT and parentheses are ours."""
    groups = []
    for group in query.groups:
        alternatives = " OR ".join(_fts5_term(term) for term in group)
        groups.append(f"({alternatives})" if len(group) > 1 else alternatives)
    expression = " AND ".join(groups)  # FTS5 allows an implicit AND only between plain phrases
    if query.excluded:
        expression = f"({expression})" + "".join(f" NOT {_fts5_term(t)}" for t in query.excluded)
    return expression


@dataclass(frozen=True)
class SnippetPart:
    text: str
    highlighted: bool = json_field(name="highlight")


def snippet_parts(snippet: str) -> list[SnippetPart]:
    """Split a marked snippet into plain and highlighted runs (renderers escape each run)."""
    parts: list[SnippetPart] = []
    highlighted = False
    for chunk in re.split(f"([{MARK_OPEN}{MARK_CLOSE}])", snippet or ""):
        if chunk == MARK_OPEN:
            highlighted = True
        elif chunk == MARK_CLOSE:
            highlighted = False
        elif chunk:
            parts.append(SnippetPart(chunk, highlighted))
    return parts


@dataclass(frozen=True)
class SearchHit:
    article_id: int
    url: str
    title: str | None
    seq: int  # the newest version that matches
    first_seen: datetime | None
    matching_versions: int
    snippet: str = json_field(skip=True)  # marked with MARK_OPEN/MARK_CLOSE
    status: str = "live"  # the article's status now: "removed" ones are marked in the results

    # The JSON carries the snippet twice: plain, and in runs marked as highlighted or not.
    json_extra: ClassVar[dict[str, Any]] = {
        "snippet": lambda hit: _MARKS.sub("", hit.snippet),
        "snippet_parts": lambda hit: hit.parts,
    }

    @property
    def parts(self) -> list[SnippetPart]:
        return snippet_parts(self.snippet)


@dataclass(frozen=True)
class SearchPage:
    query: SearchQuery = json_field(skip=True)  # written as the text typed and as understood
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0  # matching articles, capped at COUNT_CAP
    total_capped: bool = False
    limit: int = 20
    offset: int = 0

    json_extra: ClassVar[dict[str, Any]] = {
        "query": lambda page: page.query.raw,
        "understood_as": lambda page: page.query.describe(),
    }


# ---------------------------------------------------------------------------------------------
# Backends. Fixed SQL text; the query travels only in bound parameters.
#
# Results are ordered by recency (the most recently archived matching versions first), not by a
# relevance score: a score must be computed for every match before the first page can be
# shown, which at 100,000 articles costs seconds for common words, whereas both indexes can
# walk matches newest-first and stop after one page. Work per query is bounded by WINDOW.

# At most this many matching versions are read per query (newest first); the article count is
# exact below it and shown as "N+" above.
WINDOW = 1000

_SQLITE_MATCHES = (
    "SELECT rowid AS version_id FROM version_fts WHERE version_fts MATCH :fts "
    "ORDER BY rowid DESC LIMIT :window"
)
_SQLITE_WINDOW = text(
    f"""
    SELECT v.id AS id, v.article_id AS article_id, v.seq AS seq
    FROM version AS v JOIN ({_SQLITE_MATCHES}) AS m ON m.version_id = v.id
    ORDER BY v.id DESC
    """  # noqa: S608 - a constant
)
_SQLITE_SNIPPETS = text(
    """
    SELECT f.rowid AS version_id, snippet(version_fts, 2, :open, :close, '…', 24) AS snippet
    FROM version_fts AS f WHERE version_fts MATCH :fts AND f.rowid IN :ids
    """
).bindparams(bindparam("ids", expanding=True))


def _pg_tsquery(query: SearchQuery) -> tuple[str, dict[str, str]]:
    """A tsquery SQL expression over bound parameters ``:t0``, ``:t1``, … (fixed text): the same
    tree as :func:`fts5_expression`, built with tsquery's ``||`` (OR), ``&&`` (AND), ``!!`` (NOT)."""
    params: dict[str, str] = {}

    def operand(term: Term) -> str:
        name = f"t{len(params)}"
        if term.prefix:
            # Only \w characters reach to_tsquery (checked by parse_query's pattern), plus ':*'.
            params[name] = f"{term.text}:*"
            return f"to_tsquery('simple', :{name})"
        params[name] = term.text
        return f"phraseto_tsquery('simple', :{name})"

    parts = ["(" + " || ".join(operand(term) for term in group) + ")" for group in query.groups]
    parts.extend(f"!!({operand(term)})" for term in query.excluded)
    return " && ".join(parts), params


def _pg_matches(tsq: str, columns: str) -> str:
    """The matching versions, newest first, at most ``:window`` (the search's window and the
    article list's ``q`` filter read the same rows). ``tsq`` and ``columns`` are fixed fragments
    and parameter names only."""
    return (
        f"SELECT {columns} FROM version AS v WHERE v.search_vector @@ ({tsq}) "  # noqa: S608
        "ORDER BY v.id DESC LIMIT :window"
    )


def _pg_statements(query: SearchQuery) -> tuple[TextClause, TextClause, dict[str, str]]:
    tsq, params = _pg_tsquery(query)
    window = text(_pg_matches(tsq, "v.id AS id, v.article_id AS article_id, v.seq AS seq"))
    snippets = text(
        f"""
        SELECT v.id AS version_id,
               ts_headline('simple', left(v.text, 200000), ({tsq}),
                           'StartSel={MARK_OPEN}, StopSel={MARK_CLOSE}, MaxWords=35, MinWords=15, '
                           || 'MaxFragments=2, FragmentDelimiter=" … "') AS snippet
        FROM version AS v WHERE v.id IN :ids
        """
    ).bindparams(bindparam("ids", expanding=True))
    return window, snippets, params


def matching_version_ids(session: Session, query: SearchQuery) -> Any:
    """A selectable of the ids of matching versions, newest first, at most WINDOW of them."""
    if _dialect(session) == "sqlite":
        return (
            text(_SQLITE_MATCHES)
            .bindparams(fts=fts5_expression(query), window=WINDOW)
            .columns(version_id=Integer)
        )
    tsq, params = _pg_tsquery(query)
    return (
        text(_pg_matches(tsq, "v.id AS version_id"))
        .bindparams(window=WINDOW, **params)
        .columns(version_id=Integer)
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def search(session: Session, raw: str, *, limit: int = 20, offset: int = 0) -> SearchPage:
    """Articles whose versions match, most recently archived first, each with a snippet of its
    newest matching version."""
    query = parse_query(raw)
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    if _dialect(session) == "sqlite":
        params: dict[str, Any] = {"fts": fts5_expression(query)}
        window_sql, snippet_sql = _SQLITE_WINDOW, _SQLITE_SNIPPETS
        snippet_params: dict[str, Any] = {"open": MARK_OPEN, "close": MARK_CLOSE, **params}
    else:
        window_sql, snippet_sql, params = _pg_statements(query)
        snippet_params = dict(params)
    try:
        rows = session.execute(window_sql, {**params, "window": WINDOW}).all()
        # Group the window per article, keeping the newest matching version of each.
        articles: dict[int, list[Any]] = {}
        for row in rows:
            articles.setdefault(row.article_id, []).append(row)
        page_rows = list(articles.values())[offset : offset + limit]
        hits = _hits(session, page_rows, snippet_sql, snippet_params)
    except DBAPIError as exc:  # the parser should make this impossible; never a 500 if it is not
        logger.warning("search for %r failed: %s", raw, exc.orig)
        raise SearchError(f"cannot search for {raw!r}: the search index rejected it") from None
    capped = len(rows) >= WINDOW
    total = min(len(articles), COUNT_CAP)
    return SearchPage(
        query=query,
        hits=hits,
        total=total,
        total_capped=capped or len(articles) > COUNT_CAP,
        limit=limit,
        offset=offset,
    )


def _hits(
    session: Session, groups: list[list[Any]], snippet_sql: TextClause, params: dict[str, Any]
) -> list[SearchHit]:
    if not groups:
        return []
    from sqlalchemy import select

    from archive.models import Article, Version

    newest = [max(group, key=lambda r: r.seq) for group in groups]
    ids = [row.id for row in newest]
    found = {
        f.id: f
        for f in session.execute(
            select(Version.id, Version.title, Version.first_seen, Article.canonical_url, Article.status)
            .join(Article, Article.id == Version.article_id)
            .where(Version.id.in_(ids))
        )
    }
    snippets: dict[int, str] = dict(session.execute(snippet_sql, {**params, "ids": ids}).all())
    hits = []
    for row, group in zip(newest, groups, strict=True):
        v = found.get(row.id)
        if v is None:
            continue
        hits.append(
            SearchHit(
                article_id=row.article_id,
                url=v.canonical_url,
                title=v.title,
                seq=row.seq,
                first_seen=v.first_seen,
                matching_versions=len(group),
                snippet=snippets.get(row.id) or "",
                status=v.status.value,
            )
        )
    return hits
