"""Full-text search over the text of every version: SQLite FTS5 and PostgreSQL behind one interface.

User input never reaches SQL text. A query is parsed here into words, ``"quoted phrases"`` and
``prefix*`` words (everything else — FTS operators, parentheses, column filters, quotes left
open — is treated as plain text), then compiled to bound parameters: each FTS5 term becomes a
quoted FTS5 string, each PostgreSQL term ``phraseto_tsquery('simple', :param)``. Terms are
ANDed. A query with nothing searchable is a clear :class:`SearchError`, never a 500.

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


@dataclass(frozen=True)
class SearchQuery:
    raw: str
    terms: tuple[Term, ...]

    def describe(self) -> str:
        parts = []
        for t in self.terms:
            parts.append(f'"{t.text}"' if t.phrase else f"{t.text}*" if t.prefix else t.text)
        return " ".join(parts)


def parse_query(raw: str) -> SearchQuery:
    """Words, "quoted phrases" and prefix* words; all else is text. Raises SearchError."""
    if raw is None or not raw.strip():
        raise SearchError("empty search: type one or more words")
    if len(raw) > MAX_QUERY_CHARS:
        raise SearchError(f"search query too long (more than {MAX_QUERY_CHARS} characters)")
    terms: list[Term] = []
    # Balanced quotes are phrases; an unbalanced quote is just a character.
    pieces = re.split(r'"([^"]*)"', raw)
    for index, piece in enumerate(pieces):
        if index % 2 == 1:
            words = _NON_WORD.sub(" ", piece).split()
            if words:
                terms.append(Term(" ".join(words), phrase=len(words) > 1))
            continue
        for word in piece.split():
            prefix = _PREFIX_WORD.match(word)
            if prefix:
                terms.append(Term(prefix.group(1), prefix=True))
                continue
            parts = _NON_WORD.sub(" ", word).split()
            if len(parts) == 1:
                terms.append(Term(parts[0]))
            elif parts:  # "covid-19", "u.s." — the tokenizer splits these too: search them as a phrase
                terms.append(Term(" ".join(parts), phrase=True))
    if not terms:
        raise SearchError(f'nothing to search for in {raw!r}: use words, "phrases" or prefix*')
    if len(terms) > MAX_TERMS:
        raise SearchError(f"too many search terms (at most {MAX_TERMS})")
    return SearchQuery(raw, tuple(terms))


def fts5_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH string: every term an FTS5 string (``"…"``), prefixes with a trailing ``*``."""
    out = []
    for term in query.terms:
        quoted = '"' + term.text.replace('"', '""') + '"'
        out.append(quoted + ("*" if term.prefix else ""))
    return " ".join(out)


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
    """A tsquery SQL expression over bound parameters ``:t0``, ``:t1``, … (fixed text)."""
    parts, params = [], {}
    for index, term in enumerate(query.terms):
        name = f"t{index}"
        if term.prefix:
            # Only \w characters reach to_tsquery (checked by parse_query's pattern), plus ':*'.
            parts.append(f"to_tsquery('simple', :{name})")
            params[name] = f"{term.text}:*"
        else:
            parts.append(f"phraseto_tsquery('simple', :{name})")
            params[name] = term.text
    return " && ".join(parts), params


def _pg_statements(query: SearchQuery) -> tuple[TextClause, TextClause, dict[str, str]]:
    tsq, params = _pg_tsquery(query)
    window = text(
        f"""
        SELECT v.id AS id, v.article_id AS article_id, v.seq AS seq
        FROM version AS v WHERE v.search_vector @@ ({tsq})
        ORDER BY v.id DESC LIMIT :window
        """  # noqa: S608 - tsq is built from fixed fragments and parameter names only
    )
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
        text(
            f"SELECT v.id AS version_id FROM version AS v WHERE v.search_vector @@ ({tsq}) "
            "ORDER BY v.id DESC LIMIT :window"
        )
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
            select(Version.id, Version.title, Version.first_seen, Article.canonical_url)
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
            )
        )
    return hits
