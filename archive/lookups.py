"""Look-ups shared by the writer, the read model and dedup: which article a URL leads to, and
which of its versions is current. Light on purpose: read-only commands import it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.orm import Session

from archive.errors import NotFoundError
from archive.models import Article, ArticleURL, Version
from archive.normalize import URLError, normalize_url, url_variants

T = TypeVar("T")


def normalize_url_or_none(url: str) -> str | None:
    try:
        return normalize_url(url)
    except URLError:
        return None


def find_article(session: Session, url: str) -> Article | None:
    """The article a URL leads to: its canonical URL or any recorded alias.

    Two queries whatever the number of URL variants (one over canonical URLs, one over aliases);
    the first variant in order of preference wins: the normalised URL itself, then its variants
    (AMP, www…), each as a canonical URL before an alias.
    """
    return find_articles(session, [url])[url]


# Values per IN (...) list: far below any backend's limit on bound parameters.
_IN_CHUNK = 500


def in_chunks(values: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices short enough for one ``IN (...)`` list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Built once (the writer looks up every capture's URLs): the URLs are bound as parameters.
_BY_CANONICAL_URL = select(Article).where(Article.canonical_url.in_(bindparam("urls", expanding=True)))
_BY_ALIAS = (
    select(ArticleURL.url, Article)
    .join(Article, ArticleURL.article_id == Article.id)
    .where(ArticleURL.url.in_(bindparam("urls", expanding=True)))
)


def find_articles(session: Session, urls: Iterable[str]) -> dict[str, Article | None]:
    """``find_article`` of each URL, by URL, in two queries for all of them (a batch of writes)."""
    keys = {url: normalize_url_or_none(url) for url in urls}
    candidates = {
        url: list(dict.fromkeys((key, *url_variants(key)))) for url, key in keys.items() if key is not None
    }
    wanted = list(dict.fromkeys(c for cs in candidates.values() for c in cs))
    canonical = {
        article.canonical_url: article
        for chunk in in_chunks(wanted)
        for article in session.scalars(_BY_CANONICAL_URL, {"urls": chunk})
    }
    found: dict[str, Article | None] = {url: None for url in keys}
    misses = []
    for url, key in keys.items():
        if key is not None and key in canonical:
            found[url] = canonical[key]
        elif key is not None:
            misses.append(url)
    if not misses:
        return found
    # An alias maps to one article (article_url.url is unique): one query serves every URL.
    aliased = list(dict.fromkeys(u for url in misses for u in (*candidates[url], url)))
    aliases = {
        alias: article
        for chunk in in_chunks(aliased)
        for alias, article in session.execute(_BY_ALIAS, {"urls": chunk})
    }
    for url in misses:
        found[url] = _first_match(candidates[url], url, canonical, aliases)
    return found


def _first_match(
    candidates: list[str], url: str, canonical: dict[str, Article], aliases: dict[str, Article]
) -> Article | None:
    for candidate in candidates:
        # An alias recorded as the URL exactly as given counts with the first candidate.
        for found in (canonical.get(candidate), aliases.get(candidate), aliases.get(url)):
            if found is not None:
                return found
    return None


def require_article(session: Session, url: str) -> Article:
    """The article a URL leads to, or the article with that id (the number `articles` shows):
    a URL is never all digits, so the two cannot be confused."""
    ref = url.strip()
    if ref.isascii() and ref.isdigit() and len(ref) <= 10:
        by_id = session.get(Article, int(ref)) if int(ref) < 2**31 else None
        if by_id is None:
            raise NotFoundError(f"no archived article with id {ref}")
        return by_id
    article = find_article(session, url)
    if article is None:
        raise NotFoundError(f"no archived article for {url}")
    return article


def latest_version(session: Session, article_id: int) -> Version | None:
    return session.scalar(
        select(Version).where(Version.article_id == article_id).order_by(Version.seq.desc()).limit(1)
    )


def current_version(session: Session, article: Article) -> Version | None:
    """The version the page shows now: ``current_seq`` while it flip-flops, else the latest."""
    if article.current_seq is not None:
        version = session.scalar(
            select(Version).where(Version.article_id == article.id, Version.seq == article.current_seq)
        )
        if version is not None:
            return version
    return latest_version(session, article.id)


def latest_and_current_versions(
    session: Session, articles: Iterable[Article]
) -> dict[int, tuple[Version | None, Version | None]]:
    """``(latest_version, current_version)`` of each article, by id, in one or two queries."""
    by_id = {article.id: article for article in articles}
    ids = list(by_id)
    latest: dict[int, Version] = {}
    for chunk in in_chunks(ids):
        newest = (
            select(Version.article_id, func.max(Version.seq).label("seq"))
            .where(Version.article_id.in_(chunk))
            .group_by(Version.article_id)
            .subquery()
        )
        for version in session.scalars(
            select(Version).join(
                newest, (Version.article_id == newest.c.article_id) & (Version.seq == newest.c.seq)
            )
        ):
            latest[version.article_id] = version
    shown = [(a.id, a.current_seq) for a in by_id.values() if a.current_seq is not None]
    pinned: dict[int, Version] = {}
    for pairs in in_chunks(shown):
        for version in session.scalars(
            select(Version).where(tuple_(Version.article_id, Version.seq).in_(pairs))
        ):
            pinned[version.article_id] = version
    return {i: (latest.get(i), pinned.get(i) or latest.get(i)) for i in ids}
