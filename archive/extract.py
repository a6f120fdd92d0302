"""One wrapper around trafilatura: bytes in, an article's text and metadata out.

Deterministic (no cross-document deduplication cache), comments excluded. Bytes are decoded
from the HTTP charset, a BOM or the page's own declaration, with detection as the fallback;
decoding that had to replace bytes is reported, so it can never pass for an edit.
Characters XML cannot carry (C0 controls, U+FFFE, U+FFFF) become spaces before parsing: lxml
refuses them, and one of them would otherwise make trafilatura discard the whole page.
Structured data (JSON-LD ``NewsArticle``/``Article``) wins over heuristics when present.
"""

from __future__ import annotations

import codecs
import functools
import json
import logging
import re
import warnings
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import lxml.html
import trafilatura
from dateutil import parser as dateparser
from lxml import etree
from trafilatura import metadata as traf_metadata
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from archive.normalize import has_non_xml, normalize_field, normalize_text, xml_safe

logger = logging.getLogger(__name__)

EXTRACTOR = f"trafilatura {trafilatura.__version__}"
# Bigger documents are refused: extraction cost grows superlinearly (30 MB took 30 s, 700 MB).
MAX_HTML_BYTES = 20 * 1024 * 1024
# libxml2 silently drops content nested deeper than this (docs/versions.md, Suspect fetches).
LIBXML2_MAX_DEPTH = 255

# The languages dateparser tries on a date written in words (htmldate's last resort, for a page
# that declares no date): the topic's (English, Urdu, Pashto, Dari/Persian, Arabic, Hindi,
# Bengali) and the most common ones of the web's news. Told no language, dateparser builds and
# tries the tables of all its ~200 locales before giving up on a string: 2-3 s of CPU on the first
# such page in every process, against 0.3-0.7 s for these (docs/versions.md, Guessed dates).
DATE_LANGUAGES = (
    "en", "ur", "ps", "fa", "ar", "hi", "bn",
    "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "uk", "tr", "zh", "ja", "id",
)  # fmt: skip


def _restrict_date_languages() -> None:
    """Make htmldate's date parser try ``DATE_LANGUAGES`` only (it is built on first use)."""
    try:
        from htmldate import extractors
    except ImportError:  # pragma: no cover - trafilatura always brings htmldate
        return
    given = getattr(extractors, "get_external_parser", None)
    if given is None:
        return  # another htmldate: dateparser tries every locale, as before

    @functools.cache
    def external_parser() -> Any:
        parser = given()  # htmldate's own parser and settings; only the languages are ours
        parser.languages = list(DATE_LANGUAGES)
        return parser

    extractors.get_external_parser = external_parser


_restrict_date_languages()


def warm_dates() -> None:
    """Build htmldate's fallback date parser and its tables now (a process otherwise builds
    them on the first page with a date written in words, within that page's time limit)."""
    try:
        from htmldate.extractors import get_external_parser
    except ImportError:  # pragma: no cover - another htmldate: the first such page pays
        return
    parser = get_external_parser()
    for text in ("3 March 2021", "the census of 2011", "Updated Mar. 3, 2021 10:05"):
        parser.get_date_data(text)


_ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "backgroundnewsarticle",
    "reviewnewsarticle",
    "blogposting",
    "report",
    "scholarlyarticle",
    "socialmediaposting",
    "liveblogposting",
    "techarticle",
    "webpage",
}


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    lossy: bool = False
    replaced: int = 0  # how many bytes had to be replaced by U+FFFD


@dataclass(frozen=True)
class Extracted:
    """What the extractor found on a page."""

    text: str
    title: str | None = None
    byline: str | None = None
    published: str | None = None
    modified: str | None = None
    language: str | None = None
    sitename: str | None = None
    canonical_url: str | None = None
    extractor: str = EXTRACTOR
    encoding: str | None = None
    lossy_decoding: bool = False
    truncated: bool = False  # the parser dropped part of the tree
    paywalled: bool = False  # structured data says the content is not accessible for free
    dates_declared: bool = True  # False: the dates were guessed from the page's text (htmldate)
    warnings: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "byline": self.byline,
            "published": self.published,
            "modified": self.modified,
            "language": self.language,
            "sitename": self.sitename,
            "canonical_url": self.canonical_url,
            "text": self.text,
            "extractor": self.extractor,
            "encoding": self.encoding,
            "lossy_decoding": self.lossy_decoding,
        }


def storable(extracted: Extracted) -> Extracted:
    """The extraction with no character XML cannot carry in any field.

    Every field the archive stores passes here (whatever extracted it: this module, an import,
    a test), so a stored title can never make a feed or an export ill-formed.
    """
    changes: dict[str, Any] = {}
    for spec in fields(extracted):
        value = getattr(extracted, spec.name)
        if isinstance(value, str) and has_non_xml(value):
            if spec.name == "text":
                changes[spec.name] = normalize_text(value)
            elif spec.name == "canonical_url":
                # A URL must not gain spaces; the characters are dropped.
                changes[spec.name] = "".join(ch for ch in value if not has_non_xml(ch)) or None
            else:
                changes[spec.name] = normalize_field(value)
        elif spec.name == "warnings" and any(has_non_xml(w) for w in value):
            changes[spec.name] = tuple(xml_safe(w) for w in value)
    return replace(extracted, **changes) if changes else extracted


class ExtractionError(Exception):
    """The page could not be turned into article text (too large, not HTML)."""


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_html(raw: bytes, content_type: str | None = None) -> Decoded:
    """Decode page bytes: BOM, then HTTP charset, then the page's meta, then detection."""
    bom_encoding, bom = read_bom(raw)
    if bom_encoding and bom:
        return _decode_with(raw[len(bom) :], _codec(bom_encoding) or "utf-8")
    candidates: list[str] = []
    for name in (
        http_content_type_encoding(content_type) if content_type else None,
        html_body_declared_encoding(raw[:4096]),
    ):
        codec = _codec(name)
        # A declared latin-1 is in practice windows-1252 (the WHATWG rule).
        if codec in ("latin-1", "iso8859-1", "ascii"):
            codec = "cp1252"
        if codec and codec not in candidates:
            candidates.append(codec)
    for codec in candidates:
        try:
            return Decoded(raw.decode(codec), codec)
        except UnicodeDecodeError:
            continue
    # Nothing declared decodes cleanly: try UTF-8, then the codecs of the page's language, then
    # detection, then the first declaration.
    try:
        return Decoded(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    language = declared_language(raw)
    if language in LANGUAGE_CODECS:
        # A page in Japanese labelled UTF-8 is Shift_JIS or EUC-JP, not whatever a few hundred
        # bytes of kana look like to a detector (cp775, cp1251 or cp949 on short pages).
        best = from_bytes(raw[:200_000], cp_isolation=list(LANGUAGE_CODECS[language])).best()
        for codec in (_codec(best.encoding) if best is not None else None, *LANGUAGE_CODECS[language]):
            if codec is None:
                continue
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                continue
            if _in_script(text, language):
                return Decoded(text, codec)
    japanese = _kana_rich_shift_jis(raw)
    if japanese is not None:
        return Decoded(japanese, "cp932")
    best = from_bytes(raw[:200_000]).best()
    detected = _codec(best.encoding) if best is not None else None
    if detected:
        try:
            text = raw.decode(detected)
        except UnicodeDecodeError:
            pass
        else:
            # A guess that contradicts the page's language, or bytes that read as CJK text just
            # as well: reported like any lossy decoding, never passed off as the page's words.
            single_byte = len(text) == len(raw)
            doubtful = (language in LANGUAGE_SCRIPT and not _in_script(text, language)) or (
                single_byte and _reads_as_cjk(raw)
            )
            return Decoded(text, detected, lossy=doubtful)
    return _decode_with(raw, candidates[0] if candidates else "utf-8")


# Legacy codecs of languages whose pages are still served in them, and the script their letters
# are in. Used only when the declared charset is wrong (bytes that do not decode with it).
_CYRILLIC = "[\u0400-\u04ff]"
LANGUAGE_CODECS: dict[str, tuple[str, ...]] = {
    "ja": ("cp932", "euc_jp", "iso2022_jp"),
    "zh": ("gb18030", "big5"),
    "ko": ("cp949",),
    "ru": ("cp1251", "koi8_r"),
    "uk": ("cp1251", "koi8_u"),
    "bg": ("cp1251",),
    "be": ("cp1251",),
    "mk": ("cp1251",),
    "sr": ("cp1251",),
    "el": ("cp1253", "iso8859_7"),
    "he": ("cp1255", "iso8859_8"),
    "ar": ("cp1256", "iso8859_6"),
    "fa": ("cp1256",),
    "ur": ("cp1256",),
    "th": ("cp874",),
}
LANGUAGE_SCRIPT: dict[str, re.Pattern[str]] = {
    language: re.compile(script)
    for language, script in {
        "ja": "[\u3040-\u30ff\u31f0-\u31ff\u4e00-\u9fff\uff66-\uff9f]",
        "zh": "[\u4e00-\u9fff\u3400-\u4dbf]",
        "ko": "[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\u4e00-\u9fff]",
        "ru": _CYRILLIC,
        "uk": _CYRILLIC,
        "bg": _CYRILLIC,
        "be": _CYRILLIC,
        "mk": _CYRILLIC,
        "sr": _CYRILLIC,
        "el": "[\u0370-\u03ff\u1f00-\u1fff]",
        "he": "[\u0590-\u05ff]",
        "ar": "[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]",
        "fa": "[\u0600-\u06ff\ufb50-\ufdff\ufe70-\ufeff]",
        "ur": "[\u0600-\u06ff\ufb50-\ufdff\ufe70-\ufeff]",
        "th": "[\u0e00-\u0e7f]",
    }.items()
}
_CJK_CODECS = ("cp932", "euc_jp", "gb18030", "big5", "cp949")
_CJK_LETTER = re.compile("[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
_LANG = re.compile(
    rb"""<html\b[^>]*?\blang\s*=\s*["']?([a-zA-Z]{2,3})"""
    rb"""|<meta\b[^>]*?(?:content-language|og:locale)["']?[^>]*?\bcontent\s*=\s*["']?([a-zA-Z]{2,3})""",
    re.IGNORECASE,
)


def declared_language(raw: bytes) -> str | None:
    """The page's language from ``<html lang>``, Content-Language or og:locale (two letters)."""
    match = _LANG.search(raw[:65536])
    if match is None:
        return None
    return (match.group(1) or match.group(2)).decode("ascii").lower()[:2]


def _non_ascii_letters(text: str) -> list[str]:
    return [ch for ch in text if ord(ch) > 127 and ch.isalpha()]


def _in_script(text: str, language: str) -> bool:
    """Whether most non-ASCII letters of the text are in the language's script."""
    script = LANGUAGE_SCRIPT.get(language)
    letters = _non_ascii_letters(text)
    if script is None or not letters:
        return True
    return sum(1 for ch in letters if script.match(ch)) >= len(letters) / 2


def _kana_rich_shift_jis(raw: bytes) -> str | None:
    """The bytes read as Shift_JIS, when that gives Japanese text (kana), else None.

    Kana are two-byte pairs led by 0x82/0x83 in Shift_JIS, which no other encoding of real
    text produces in numbers (EUC-family pages read as half-width katakana here, not kana); a
    detector reading short Japanese pages picks cp775, cp1251 or cp949 instead.
    """
    try:
        text = raw.decode("cp932")
    except UnicodeDecodeError:
        return None
    letters = _non_ascii_letters(text)
    kana = sum(1 for ch in letters if "\u3040" <= ch <= "\u30ff")
    return text if kana >= 3 and kana >= 0.3 * len(letters) else None


def _reads_as_cjk(raw: bytes) -> bool:
    """Whether a CJK codec decodes the bytes cleanly into (mostly) CJK letters.

    Western text fails these codecs almost at once (an accented letter before a space is not a
    valid pair), so a clean, CJK-rich reading means the detector's single-byte guess is doubtful.
    """
    for codec in _CJK_CODECS:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        letters = _non_ascii_letters(text)
        cjk = sum(1 for ch in letters if _CJK_LETTER.match(ch))
        if cjk >= 4 and cjk >= 0.9 * len(letters):
            return True
    return False


def _decode_with(raw: bytes, codec: str) -> Decoded:
    try:
        return Decoded(raw.decode(codec), codec)
    except UnicodeDecodeError:
        text = raw.decode(codec, errors="replace")
        replaced = text.count("\ufffd") - raw.count("\xef\xbf\xbd".encode("latin-1"))
        return Decoded(text, codec, lossy=True, replaced=max(replaced, 1))


# ---------------------------------------------------------------------------------------------
# Structured data


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _names(value: Any) -> list[str]:
    names: list[str] = []
    for item in _as_list(value):
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
    return [n.strip() for n in names if n and n.strip()]


def _json_ld_articles(tree: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for script in tree.xpath('//script[@type="application/ld+json"]')[:20]:
        body = (script.text or "").strip()
        if not body or len(body) > 1_000_000:
            continue
        try:
            data = json.loads(body)
        except ValueError:
            continue
        stack = _as_list(data)
        while stack:
            node = stack.pop(0)
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            stack.extend(_as_list(node.get("@graph")))
            types = {str(t).lower() for t in _as_list(node.get("@type"))}
            if types & _ARTICLE_TYPES and (node.get("headline") or node.get("datePublished")):
                found.append(node)
    # Prefer a real article type over a generic WebPage.
    found.sort(key=lambda n: "webpage" in {str(t).lower() for t in _as_list(n.get("@type"))})
    return found


def normalize_date(value: Any) -> str | None:
    """A declared date as ISO 8601 (UTC when a zone is given), or None if it is not a date."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        parsed = dateparser.isoparse(value.strip())
    except (ValueError, OverflowError):
        try:
            with warnings.catch_warnings():
                # An unknown zone name ("CET", "ZZ") is dropped, not worth a warning per page.
                warnings.simplefilter("ignore", dateparser.UnknownTimezoneWarning)
                parsed = dateparser.parse(value.strip())
        except (ValueError, OverflowError):
            return None
    if not 1990 <= parsed.year <= 2100:
        return None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if parsed.hour == parsed.minute == parsed.second == 0 and "T" not in value and ":" not in value:
        return parsed.date().isoformat()
    return parsed.isoformat(timespec="seconds")


_META_ATTRIBUTES = ("property", "name", "itemprop")


def _meta_contents(tree: Any) -> dict[tuple[str, str], str]:
    """The ``content`` of the page's first ``<meta>`` of each (attribute, value), the attributes
    those of ``_META_ATTRIBUTES``: read in one pass over the tree, not one search of the whole
    tree per name and attribute asked for (up to 18 a page)."""
    contents: dict[tuple[str, str], str] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content")
        if content is None:
            continue  # (a <meta> without content is never the first one with content)
        for attribute in _META_ATTRIBUTES:
            value = meta.get(attribute)
            if value is not None:
                contents.setdefault((attribute, value), content)
    return contents


def _meta(contents: dict[tuple[str, str], str], *names: str) -> str | None:
    """The first non-blank ``content`` of a ``<meta>`` named so (by ``property``, ``name`` or
    ``itemprop``, in that order), trying ``names`` in turn; ``contents``: ``_meta_contents``."""
    for name in names:
        for attribute in _META_ATTRIBUTES:
            value = contents.get((attribute, name))
            if value and value.strip():
                return value.strip()
    return None


def _canonical(tree: Any, meta_contents: dict[tuple[str, str], str]) -> str | None:
    links = tree.xpath('//link[@rel="canonical"]/@href')
    if links and links[0].strip():
        return str(links[0]).strip()
    return _meta(meta_contents, "og:url")


# Whether this trafilatura has every metadata step _page_metadata runs (checked once, here).
_HAS_METADATA_STEPS = all(
    hasattr(traf_metadata, name)
    for name in (
        "examine_meta", "extract_meta_json", "extract_title", "extract_author", "extract_url",
        "extract_domain", "find_date", "extract_sitename", "META_URL", "set_date_params",
    )
)  # fmt: skip


def _page_metadata(tree: Any, url: str | None, *, with_date: bool) -> Any:
    """trafilatura's metadata of a page (its ``extract_metadata``, step for step, with the
    arguments ``bare_extraction`` gives it), less what this module never reads: categories, tags
    and licence, and htmldate's search for a date when the page declares one (``with_date``
    False): 5 % of a page's extraction CPU over the corpus (bench/extract_shortcuts.py).
    None when this trafilatura lacks a step: the caller then lets trafilatura do it all.
    """
    if not _HAS_METADATA_STEPS:
        return None  # pragma: no cover - another trafilatura: its own extract_metadata runs
    date_config = traf_metadata.set_date_params(True)  # as trafilatura's default options give
    metadata = traf_metadata.examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None
    try:
        metadata = traf_metadata.extract_meta_json(tree, metadata)
    except Exception as exc:  # noqa: BLE001 - trafilatura's own guard: bugs in its JSON-LD code
        logger.debug("trafilatura's JSON-LD metadata failed: %s", exc)
    if not metadata.title:
        metadata.title = traf_metadata.extract_title(tree)
    if not metadata.author:
        metadata.author = traf_metadata.extract_author(tree)
    if not metadata.url:
        metadata.url = traf_metadata.extract_url(tree, url)
    if metadata.url:
        metadata.hostname = traf_metadata.extract_domain(metadata.url, fast=True)
    if with_date:
        date_config["url"] = metadata.url
        metadata.date = traf_metadata.find_date(tree, **date_config)
    if not metadata.sitename:
        metadata.sitename = traf_metadata.extract_sitename(tree)
    if metadata.sitename:
        metadata.sitename = metadata.sitename.lstrip("@")
        if metadata.sitename and "." not in metadata.sitename and not metadata.sitename[0].isupper():
            metadata.sitename = metadata.sitename.title()
    elif metadata.url:
        match = traf_metadata.META_URL.match(metadata.url)
        if match:
            metadata.sitename = match[1]
    metadata.filedate = date_config.get("max_date")
    metadata.clean_and_trim()
    return metadata


# ---------------------------------------------------------------------------------------------


def _element_classes() -> etree.ElementNamespaceClassLookup:
    """lxml.html's element classes (``HtmlElement``, its form and label classes, ``HtmlComment``
    …) for each node, chosen by lxml itself.

    lxml.html's own choice is a Python method that lxml calls whenever Python code touches an
    element of the tree: trafilatura touches each element of a page, and of its copies, several
    times (about 5,000 calls a page, 1.7 % of the instructions of a page's extraction). Looked up
    by tag name in lxml's own registry, each node gets the same class, so the extraction is the
    same (checked on every HTML page of the corpus: bench/extract_shortcuts.py).
    """
    lookup = etree.ElementNamespaceClassLookup(
        etree.ElementDefaultClassLookup(
            element=lxml.html.HtmlElement,
            comment=lxml.html.HtmlComment,
            pi=lxml.html.HtmlProcessingInstruction,
            entity=lxml.html.HtmlEntity,
        )
    )
    # (form, input, select, textarea, label; the HTML parser gives lower-case tag names)
    lookup.get_namespace(None).update(lxml.html.HtmlElementClassLookup._default_element_classes)
    return lookup


# None: lxml.html's own lookup (the reference the benchmark and the tests compare with).
_ELEMENT_CLASSES: etree.ElementNamespaceClassLookup | None = _element_classes()


def _parse(text: str) -> tuple[Any, bool]:
    parser = lxml.html.HTMLParser(remove_comments=True, no_network=True, huge_tree=False)
    if _ELEMENT_CLASSES is not None:
        parser.set_element_class_lookup(_ELEMENT_CLASSES)
    try:
        tree = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"not an HTML document: {exc}") from None
    truncated = any(
        "excessive depth" in err.message.lower() or "huge input" in err.message.lower()
        for err in parser.error_log
    )
    return tree, truncated


def warm_up() -> None:
    """Import trafilatura and its models and run them once, before the first real page.

    What it leaves lazy on purpose: dateparser's tables (htmldate's fallback for a date written
    in words builds those of DATE_LANGUAGES on the first such page, 0.3-0.7 s of CPU). Built
    ahead of time, every crawl would pay that, also one that extracts no page with such a date
    (docs/development.md, Benchmarks).
    """
    extract(b"<html><body><article><p>warm up</p></article></body></html>")


def extract(raw: bytes | str, *, url: str | None = None, content_type: str | None = None) -> Extracted:
    """Extract article text and metadata from a page's bytes (or already decoded text)."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_HTML_BYTES:
            raise ExtractionError(f"page larger than {MAX_HTML_BYTES} bytes")
        decoded = decode_html(raw, content_type)
    else:
        decoded = Decoded(raw, "utf-8")
    if not decoded.text.strip():
        return Extracted(text="", encoding=decoded.encoding, lossy_decoding=decoded.lossy)
    # lxml refuses str input that carries an XML encoding declaration.
    source = re.sub(r"^\s*<\?xml[^>]*\?>", "", decoded.text, count=1)
    # One BEL or U+FFFF in a paragraph would make trafilatura drop the page (lxml refuses it).
    source = xml_safe(source)
    tree, truncated = _parse(source)
    warnings: list[str] = []
    if truncated:
        warnings.append("parser dropped deeply nested content")

    ld = _json_ld_articles(tree)
    ld_node = ld[0] if ld else {}
    html_lang = (tree.get("lang") or "").strip() or None
    meta_contents = _meta_contents(tree)
    canonical = _canonical(tree, meta_contents)
    paywalled = any(str(node.get("isAccessibleForFree", "")).lower() in ("false", "no", "0") for node in ld)

    declared = normalize_date(ld_node.get("datePublished")) or normalize_date(
        _meta(meta_contents, "article:published_time", "datePublished")
    )
    modified = normalize_date(ld_node.get("dateModified")) or normalize_date(
        _meta(meta_contents, "article:modified_time", "dateModified", "og:updated_time")
    )
    # trafilatura's metadata, less what is never read here (see _page_metadata); it reads the
    # tree as trafilatura's own extraction would, before the text is extracted from a copy.
    try:
        page_metadata = _page_metadata(tree, url, with_date=not declared)
    except (TypeError, ValueError):
        # What trafilatura does when its metadata extraction fails so: the page is discarded.
        page_metadata, document = None, None
    else:
        document = trafilatura.bare_extraction(
            tree,
            url=url or getattr(page_metadata, "url", None),
            with_metadata=page_metadata is None,
            include_comments=False,
            include_tables=True,
            deduplicate=False,
            fast=False,
        )
    text = normalize_text(getattr(document, "text", None) or "")
    # A page trafilatura discards (too little text) has no metadata either, as before.
    found = None if document is None else (document if page_metadata is None else page_metadata)
    traf_title = getattr(found, "title", None)
    traf_author = getattr(found, "author", None)
    traf_date = getattr(found, "date", None)

    title = normalize_field(ld_node.get("headline") if isinstance(ld_node.get("headline"), str) else None)
    title = title or normalize_field(traf_title)
    authors = _names(ld_node.get("author"))
    byline = normalize_field("; ".join(dict.fromkeys(authors))) if authors else None
    byline = byline or normalize_field(traf_author)
    published = declared or normalize_date(traf_date)
    language = (
        ld_node.get("inLanguage") if isinstance(ld_node.get("inLanguage"), str) else None
    ) or html_lang
    language = language or getattr(document, "language", None)
    sitename = normalize_field(getattr(found, "sitename", None))
    return storable(
        Extracted(
            text=text,
            title=title,
            byline=byline,
            published=published,
            modified=modified,
            language=(language or None) and language[:16],
            sitename=sitename,
            canonical_url=canonical,
            encoding=decoded.encoding,
            lossy_decoding=decoded.lossy,
            truncated=truncated,
            paywalled=paywalled,
            dates_declared=bool(declared or modified),
            warnings=tuple(warnings),
        )
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
