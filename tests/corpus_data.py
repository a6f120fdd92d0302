"""Readers for the shared corpus, used by tests and benchmarks (the corpus is never copied)."""

from __future__ import annotations

import csv
import gzip
import html
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NYT_DIR = "archivediff-nyt-article-versions"
EVAL_DIR = "trafilatura-evaldata"


@dataclass(frozen=True)
class NytCapture:
    slug: str
    index: int
    fetched_at: str
    url: str
    title: str
    authors: list[str]
    text: str

    def as_record(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "fetched_at": self.fetched_at,
            "title": self.title,
            "text": self.text,
            "authors": self.authors,
        }

    def folded_state(self) -> tuple[str, str, str]:
        """Title, authors and text, folded: captures with one state are one version."""
        return (
            fold(self.title),
            fold("; ".join(a.strip() for a in self.authors if a.strip())),
            fold(self.text),
        )


def fold(text: str) -> str:
    """An independent statement of the normalisation rule: NFC, no zero-width, one space."""
    text = unicodedata.normalize("NFC", text)
    for ch in "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e":
        text = text.replace(ch, "")
    return " ".join(text.split())


def nyt_slugs(corpus: Path) -> list[str]:
    return sorted(
        p.name.removesuffix("_all_versions.json") for p in (corpus / NYT_DIR / "dataset").glob("*.json")
    )


def nyt_captures(corpus: Path, slug: str) -> list[NytCapture]:
    data = json.loads((corpus / NYT_DIR / "dataset" / f"{slug}_all_versions.json").read_text())
    captures = []
    for index, item in enumerate(data):
        meta, article = item["metadata"], item["article"]
        memento = meta["warc-target-uri"]
        original = memento.split("/", 5)[5] if "/web/" in memento else memento
        captures.append(
            NytCapture(
                slug=slug,
                index=index,
                fetched_at=meta["warc-date"],
                url=original,
                title=article.get("title") or "",
                authors=list(article.get("authors") or []),
                text=article.get("text") or "",
            )
        )
    return captures


def nyt_version_index(corpus: Path) -> dict[str, list[dict[str, str]]]:
    rows: dict[str, list[dict[str, str]]] = {}
    with (corpus / NYT_DIR / "DERIVED_version_index.tsv").open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            rows.setdefault(row["article"], []).append(row)
    return rows


def write_nyt_jsonl(corpus: Path, path: Path, slugs: list[str] | None = None) -> int:
    count = 0
    with path.open("w") as out:
        for slug in slugs or nyt_slugs(corpus):
            for capture in nyt_captures(corpus, slug):
                out.write(json.dumps(capture.as_record()) + "\n")
                count += 1
    return count


@dataclass(frozen=True)
class EvalPage:
    key: str
    path: Path
    gold: dict[str, Any]

    @property
    def url(self) -> str | None:
        return self.key if self.key.startswith(("http://", "https://")) else None

    def raw(self) -> bytes:
        return gzip.decompress(self.path.read_bytes())


def eval_pages(corpus: Path) -> Iterator[EvalPage]:
    base = corpus / EVAL_DIR / "tests"
    gold = json.loads((base / "evaldata.json").read_text())
    for key, value in gold.items():
        for folder in ("eval", "cache"):
            path = base / folder / f"{value['file']}.gz"
            if path.exists():
                yield EvalPage(key, path, value)
                break


NEWSPAPER_DIR = "newspaper4k-fixtures/current/tests/data"
JAPANESE_ARTICLES = ("japanese_article", "japanese_article2")  # Nikkei and AFP-BB, served as UTF-8
_ASCII_HEAD_ELEMENT = re.compile(
    r"<script\b.*?</script>|<style\b.*?</style>|<link\b[^>]*>|<meta\b[^>]*>", re.S
)


@dataclass(frozen=True)
class MislabelledPage:
    url: str
    shift_jis: bytes  # the page in Shift_JIS, still declaring charset=UTF-8 in its <meta>
    utf8: bytes  # the same page as UTF-8 (what the site meant)


def shift_jis_news_flashes(corpus: Path, *, with_lang: bool) -> list[MislabelledPage]:
    """Short Japanese news items on the real pages' markup, re-encoded to Shift_JIS.

    Each is three consecutive sentences of a real article inside the real page's ``<html>`` tag
    (with or without its ``lang="ja"``) and the page's ASCII head (scripts, styles, metas,
    including ``<meta charset="UTF-8">``): markup outweighs the text, as on a short item.
    """
    pages = []
    for name in JAPANESE_ARTICLES:
        html = gzip.decompress((corpus / NEWSPAPER_DIR / "html" / f"{name}.html.gz").read_bytes()).decode()
        meta = json.loads((corpus / NEWSPAPER_DIR / "metadata" / f"{name}.json").read_text())
        # Without the page's canonical link: each item is an article of its own.
        head = "".join(
            m.group(0)
            for m in _ASCII_HEAD_ELEMENT.finditer(html)
            if m.group(0).isascii() and "canonical" not in m.group(0) and "og:url" not in m.group(0)
        )
        opening = re.search(r"<html[^>]*>", html)
        assert opening is not None
        tag = opening.group(0) if with_lang else re.sub(r'\s(?:xml:)?lang="ja"', "", opening.group(0))
        text = (corpus / NEWSPAPER_DIR / "txt" / f"{name}.txt").read_text().replace("\n", "")
        sentences = [s.strip() + "。" for s in text.split("。") if s.strip()]
        for i in range(len(sentences) - 2):
            body = "".join(f"<p>{s}</p>" for s in sentences[i : i + 3])
            page = f"<!DOCTYPE html>{tag}<head>{head}</head><body><article>{body}</article></body></html>"
            pages.append(
                MislabelledPage(
                    url=f"{meta['url'].rstrip('/')}/flash-{i}",
                    shift_jis=page.encode("cp932", errors="xmlcharrefreplace"),
                    utf8=page.encode("utf-8"),
                )
            )
    return pages


def article_page(
    title: str, byline: str, body: str, *, paragraph_break: str = r"\n\s*\n|\n", canonical: str | None = None
) -> bytes:
    """A plain news page around one state of an article: its paragraphs (``body`` split at
    ``paragraph_break``) inside <article>, with navigation and a footer around it as a real site
    has, and a canonical link when given."""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in re.split(paragraph_break, body) if p.strip())
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        + (f"<link rel='canonical' href='{html.escape(canonical)}'>" if canonical else "")
        + (f"<meta name='author' content='{html.escape(byline)}'>" if byline else "")
        + "</head><body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav><article>"
        f"<h1>{html.escape(title)}</h1>"
        + (f"<p class='byline'>By {html.escape(byline)}</p>" if byline else "")
        + f"{paragraphs}</article><footer>Site footer</footer></body></html>"
    ).encode("utf-8")
