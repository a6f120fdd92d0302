"""Normalisation of article text, metadata and URLs.

Text: Unicode NFC, zero-width characters removed, whitespace collapsed; nothing else, so one
changed word is an edit. URLs: one spelling per article (scheme/host case, default ports,
tracking parameters, fragments, AMP variants).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Zero-width and invisible formatting characters that never change what a reader sees.
_ZERO_WIDTH_CHARACTERS = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_ZERO_WIDTH = dict.fromkeys(map(ord, _ZERO_WIDTH_CHARACTERS), None)
_HAS_ZERO_WIDTH = re.compile(f"[{_ZERO_WIDTH_CHARACTERS}]")
# Characters XML 1.0 cannot carry: C0 controls other than tab, newline and carriage return,
# UTF-16 surrogates (JSON escapes can produce lone ones) and the non-characters U+FFFE/U+FFFF.
# lxml refuses them, so the extractor would drop a whole page for one of them, and one in a
# title would make the Atom feed ill-formed. Each becomes a space: a control character between
# two words ("Panel\x07on") still separates them, and the space collapses with its neighbours.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_HSPACE = re.compile(r"[^\S\n]+")
_ANY_SPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{2,}")

MAX_URL_LENGTH = 2048


def xml_safe(text: str) -> str:
    """The text with every character XML 1.0 cannot carry replaced by a space."""
    return _NOT_XML.sub(" ", text)


def has_non_xml(text: str) -> bool:
    return _NOT_XML.search(text) is not None


def normalize_text(text: str | None) -> str:
    """The stored form of article text: NFC, no zero-width characters, one paragraph a line."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", xml_safe(text))
    if _HAS_ZERO_WIDTH.search(text):  # (a search is far cheaper than a translate of every character)
        text = text.translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (_HSPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def comparable_text(text: str | None) -> str:
    """The form compared between versions: also folds paragraph breaks into single spaces.

    Reflowing the same words into different paragraphs is not an edit.
    """
    return _ANY_SPACE.sub(" ", normalize_text(text)).strip()


def comparable_line(line: str) -> str:
    """``comparable_text`` of one line of ``normalize_text``'s output in which fragments were
    replaced by spaces (what the version key is built from, line by line).

    Such a line has no newline, carriage return, zero-width or non-XML character left, so when
    it is still NFC (a replaced fragment could leave a combining mark beside a space), the
    whole normalisation comes down to collapsing its spaces: the same result at a third of the
    cost, and the version key is worked out for every page fetched.
    """
    if unicodedata.is_normalized("NFC", line):
        return _ANY_SPACE.sub(" ", line).strip()
    return comparable_text(line)


def text_digest(text: str | None) -> str:
    return hashlib.sha256(comparable_text(text).encode("utf-8")).hexdigest()


def normalize_field(value: str | None) -> str | None:
    """A metadata field (title, byline) in comparable form; empty becomes None."""
    if value is None:
        return None
    folded = comparable_text(value)
    return folded or None


def word_count(text: str | None) -> int:
    return len(comparable_text(text).split()) if text else 0


# ---------------------------------------------------------------------------------------------
# URLs

TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "yclid",
        "igshid",
        "_ga",
        "_gl",
        "ref_src",
        "ref_url",
        "cmpid",
        "cmp",
        "sr_share",
        "spm",
        "soc_src",
        "soc_trk",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "ito",
        "ncid",
        "ocid",
        "smid",
        "smtyp",
        "mbid",
        "s_cid",
        "rss",
        "xtor",
        "at_medium",
        "at_campaign",
        "__twitter_impression",
        "ftag",
        "wt.mc_id",
        "amp",
        "outputtype",
        "output",
        "share",
        "src",
        "partner",
    }
)
_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_", "oly_", "vero_", "ga_")
_AMP_PATH = re.compile(r"(?:/amp/?|\.amp(?=\.html?$)|/amp\.html?)$", re.IGNORECASE)
_AMP_PREFIX = re.compile(r"^/amp(?=/)", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")
_AMP_HOST = re.compile(r"^amp\.", re.IGNORECASE)


# Lone surrogates (what Python makes of undecodable bytes in argv) and NUL: no database stores them.
_UNSAFE_IN_URL = re.compile(r"[\ud800-\udfff\x00]")


class URLError(ValueError):
    """A URL that cannot name an article (wrong scheme, no host, too long)."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMETERS or lowered.startswith(_TRACKING_PREFIXES)


@lru_cache(maxsize=8192)
def normalize_url(url: str) -> str:
    """The one spelling of an article URL.

    http and https are kept distinct only by scheme case; ``www.`` is kept (some outlets
    serve different sites with and without it).
    """
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise URLError(f"URL longer than {MAX_URL_LENGTH} characters")
    if _UNSAFE_IN_URL.search(url):  # undecodable bytes (from a command line)
        raise URLError(f"URL with bytes that are not text: {url[:200]!r}")
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise URLError(f"not an http(s) URL: {url[:200]!r}")
        host = (parts.hostname or "").rstrip(".")
        explicit_port = parts.port
    except URLError:
        raise
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", …
        raise URLError(f"not a valid URL ({exc}): {url[:200]!r}") from None
    if not host:
        raise URLError(f"URL has no host: {url[:200]!r}")
    host = _AMP_HOST.sub("", host.lower())
    port = explicit_port if explicit_port not in (None, 80 if scheme == "http" else 443) else None
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    path = _AMP_PATH.sub("", _AMP_PREFIX.sub("", _SLASHES.sub("/", parts.path))) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    # canonicalize_url percent-encodes consistently and sorts the query. Imported here: w3lib
    # pulls in urllib.request, which a read-only command that takes no URL never needs.
    from w3lib.url import canonicalize_url

    return canonicalize_url(urlunsplit((scheme, netloc, path, query, "")))


def same_site(url_a: str, url_b: str) -> bool:
    """Whether two URLs belong to the same site (registrable host, ignoring ``www.``)."""

    def host(u: str) -> str:
        h = (urlsplit(u).hostname or "").lower()
        return h[4:] if h.startswith("www.") else h

    return bool(host(url_a)) and host(url_a) == host(url_b)


def url_variants(key: str) -> list[str]:
    """Other spellings of a normalised URL that may name the same article when looked up.

    http/https and with/without ``www.``: used only to *find* an existing article (a plain
    http link to an https article), never to create one.
    """
    parts = urlsplit(key)
    host = parts.netloc
    hosts = [host, host[4:]] if host.startswith("www.") else [host, f"www.{host}"]
    schemes = ["https", "http"] if parts.scheme == "http" else ["http", "https"]
    variants = []
    for scheme in schemes:
        for netloc in hosts:
            candidate = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
            if candidate != key:
                variants.append(candidate)
    return variants


def is_home_page(url: str) -> bool:
    """Whether a URL is a site's front page (a redirect there from an article is a soft 404)."""
    parts = urlsplit(url)
    path = parts.path.strip("/").lower()
    return (
        path in ("", "index.html", "index.htm", "index.php", "home", "en", "de", "fr", "es")
        and not parts.query
    )
