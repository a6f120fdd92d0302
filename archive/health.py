"""The health of a fetched page: whether what came back is the article at all.

Pure functions of an extraction and the version it would follow, no session: error pages (soft
404s), consent, paywall and bot walls, collapsed or empty text, truncated trees, and text decoded
with the wrong codec. A page they suspect is never a version on first sight
(docs/versions.md, Suspect fetches; docs/versions.md, Encoding damage); ``archive.store`` decides
what becomes of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archive.extract import Extracted
from archive.models import ChangeKind, Version
from archive.volatile import key_text, lossy_matches

# A fetch whose text is shorter than this is not an article.
MIN_TEXT_CHARS = 50
# A known article whose text shrinks below this share of the last version is suspect.
SHRINK_RATIO = 0.5
SHRINK_MIN_PREVIOUS_CHARS = 400
# Below this length a page carrying wall markers is a wall, not an article.
WALL_MAX_CHARS = 2500

WALL_MARKERS = re.compile(
    r"subscribe (?:now )?to (?:continue|read)|to continue reading|already a subscriber|"
    r"sign in to (?:continue|read)|create (?:a )?free account to|this (?:article|content) is "
    r"(?:for|reserved for|available to|only available to) (?:subscribers|members)|"
    r"subscribers only|premium content|paywall|we use cookies|accept (?:all )?cookies|"
    r"cookie (?:settings|preferences|policy)|your privacy choices|manage (?:your )?consent|"
    r"we value your privacy|verify (?:that )?you are (?:a )?human|are you a robot|"
    r"checking your browser|enable javascript and cookies|access denied|captcha|"
    r"unusual traffic|request (?:was )?blocked|attention required",
    re.IGNORECASE,
)
ERROR_PAGE_MARKERS = re.compile(
    r"\b(?:page|article|content) (?:was )?not (?:be )?found\b|\b404\b.{0,40}\bnot found\b|"
    r"\bno longer available\b|\bhas been (?:removed|deleted)\b|\bseite nicht gefunden\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Suspicion:
    """Why a fetch must not (yet) become a version.

    ``label``: wall | paywalled | shrunk | soft-404 | empty | lossy | truncated. A *confirmable*
    suspicion seen again on the next check becomes a version carrying the label as a flag.
    """

    label: str
    message: str
    confirmable: bool = False


def classify(extracted: Extracted, previous: Version | None) -> Suspicion | None:
    """What is suspect about this extraction, or None when it is healthy."""
    text = extracted.text
    live = previous is not None and previous.change_kind != ChangeKind.REMOVED
    if extracted.truncated:
        return Suspicion("truncated", "the HTML parser dropped deeply nested content")
    if extracted.lossy_decoding and live:
        return Suspicion(
            "lossy", f"lossy decoding ({extracted.encoding}); not comparable with the stored text"
        )
    if len(text) < MIN_TEXT_CHARS:
        return Suspicion("empty", f"no article text ({len(text)} characters extracted)")
    if len(text) <= WALL_MAX_CHARS and (wall := WALL_MARKERS.search(text)):
        return Suspicion("wall", "consent, paywall or bot wall: " + wall.group(0), True)
    if len(text) <= WALL_MAX_CHARS and ERROR_PAGE_MARKERS.search(f"{extracted.title or ''} {text[:500]}"):
        return Suspicion("soft-404", "error page (soft 404)", True)
    if live:
        assert previous is not None
        before = len(previous.text)
        if before >= SHRINK_MIN_PREVIOUS_CHARS and len(text) < before * SHRINK_RATIO:
            return Suspicion("shrunk", f"text collapsed from {before} to {len(text)} characters", True)
        if extracted.paywalled and len(text) < before * 0.8:
            return Suspicion(
                "paywalled", "marked isAccessibleForFree=false and shorter than the stored text", True
            )
    return None


def assess(extracted: Extracted, previous: Version | None) -> str | None:
    """Why this extraction must not become a version, or None when it is healthy."""
    suspicion = classify(extracted, previous)
    return suspicion.message if suspicion is not None else None


_MOJIBAKE = re.compile("Ã[\u0080-\u00bf]|â€|Â[\u00a0-\u00bf]")


def misdecoded(extracted: Extracted, current: Version, patterns: tuple[str, ...]) -> bool | None:
    """UTF-8 bytes decoded with a legacy codec (one bad byte makes detection pick cp1252).

    True: repaired, it says what the current version says; False: mojibake that is not
    comparable (never an edit); None: no sign of mis-decoding.
    """
    assert extracted.encoding is not None
    try:
        repaired = extracted.text.encode(extracted.encoding).decode("utf-8", errors="replace")
    except (UnicodeError, LookupError):
        return None
    if repaired == extracted.text:
        return None
    if lossy_matches(key_text(repaired, patterns), key_text(current.text, patterns)):
        return True
    if len(_MOJIBAKE.findall(extracted.text)) >= 2 and not _MOJIBAKE.search(current.text):
        return False
    return None
