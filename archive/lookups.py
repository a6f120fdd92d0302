"""Look-ups shared by the writer, the read model and dedup: which article a URL leads to, and
which of its versions is current. Light on purpose: read-only commands import it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.errors import NotFoundError
from archive.models import Article, ArticleURL, Version
from archive.normalize import URLError, normalize_url, url_variants


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
    key = normalize_url_or_none(url)
    if key is None:
        return None
    candidates = list(dict.fromkeys((key, *url_variants(key))))
    canonical = {
        article.canonical_url: article
        for article in session.scalars(select(Article).where(Article.canonical_url.in_(candidates)))
    }
    if key in canonical:
        return canonical[key]
    aliases = {
        alias: article
        for alias, article in session.execute(
            select(ArticleURL.url, Article)
            .join(Article, ArticleURL.article_id == Article.id)
            .where(ArticleURL.url.in_(list(dict.fromkeys((*candidates, url)))))
        )
    }
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
