"""Finding an archived article by a URL: light enough for the read-only commands.

Kept apart from the store (which imports the extractor and the dedup signatures) so that
``mediawatch versions URL`` starts without trafilatura or numpy.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive.models import Article, ArticleURL
from archive.normalize import URLError, normalize_url, url_variants


def find_article(session: Session, url: str) -> Article | None:
    """The article a URL leads to: its canonical URL or any recorded alias."""
    try:
        key = normalize_url(url)
    except URLError:
        return None
    for candidate in (key, *url_variants(key)):
        article = session.scalar(select(Article).where(Article.canonical_url == candidate))
        if article is not None:
            return article
        article = session.scalar(
            select(Article)
            .join(ArticleURL, ArticleURL.article_id == Article.id)
            .where(or_(ArticleURL.url == candidate, ArticleURL.url == url))
        )
        if article is not None:
            return article
    return None
