"""How relevant a page is to the topic: a pure function of its text, title and URL.

Used by the crawler after extraction and importable by anything else (import, backfill):
``Relevance.from_topic(load_topic()).score(text, title=..., url=...)``. The scorer is the
weighted query of docs/topic.md; the weights, term groups and threshold live in
config/topic.yaml.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from crawler.config import TermGroup, TopicFile

# Arabic-script normalisation before matching (docs/topic.md, How a page is scored). Pashto letters are kept.
_CHAR_MAP = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي -> ی
        "\u0649": "\u06cc",  # ى -> ی
        "\u0643": "\u06a9",  # ك -> ک
        "\u06c1": "\u0647",  # ہ -> ه
        "\u06c2": "\u0647",  # ۂ -> ه
        "\u0629": "\u0647",  # ة -> ه
        "\u06d5": "\u0647",  # ە -> ه
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
        "\u200c": " ",  # ZWNJ
        "\u0640": None,  # tatweel
    }
)
_HARAKAT = re.compile("[\u064b-\u065f\u0670]")
_SPACES = re.compile(r"\s+")


def normalize_for_matching(text: str) -> str:
    text = unicodedata.normalize("NFC", text or "")
    text = _HARAKAT.sub("", text.translate(_CHAR_MAP))
    text = text.replace("\u2010", "-").replace("\u2011", "-").replace("\u2013", "-").replace("\u2019", "'")
    return _SPACES.sub(" ", text)


def _term_pattern(term: str) -> str:
    if term.startswith("re:"):
        return f"(?:{term[3:]})"
    words = [re.escape(w) for w in normalize_for_matching(term).split(" ")]
    return r"(?<!\w)" + r"[\s\-]+".join(words) + r"(?!\w)"


@dataclass(frozen=True)
class _Group:
    name: str
    pattern: re.Pattern[str]
    side: str | None

    @classmethod
    def build(cls, group: TermGroup) -> _Group:
        flags = 0 if group.case_sensitive else re.IGNORECASE
        alternation = "|".join(_term_pattern(t) for t in group.terms)
        return cls(group.name, re.compile(alternation, flags), group.side)


@dataclass(frozen=True)
class Score:
    score: float
    keep: bool
    tier_a: tuple[str, ...] = ()
    tier_b: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "keep": self.keep,
            "tier_a": list(self.tier_a),
            "tier_b": list(self.tier_b),
            "negative": list(self.negative),
            "reasons": list(self.reasons),
        }


class Relevance:
    """A compiled topic query."""

    def __init__(self, topic: TopicFile) -> None:
        self.topic = topic
        self.tier_a = [_Group.build(g) for g in topic.tier_a]
        self.tier_b = [_Group.build(g) for g in topic.tier_b]
        self.negative = [_Group.build(g) for g in topic.negative]
        self.commentary = [re.compile(p) for p in topic.commentary_url_patterns]
        self.commentary_sites = {s.lower().removeprefix("www.") for s in topic.commentary_sites}
        self.threshold = topic.threshold

    @classmethod
    def from_topic(cls, topic: TopicFile) -> Relevance:
        return cls(topic)

    def score(self, text: str, *, title: str | None = None, url: str | None = None) -> Score:
        return score_page(self, text, title=title, url=url)


def _hits(groups: list[_Group], text: str) -> list[_Group]:
    return [g for g in groups if g.pattern.search(text)]


def score_page(rel: Relevance, text: str, *, title: str | None = None, url: str | None = None) -> Score:
    """Score one page against a compiled topic (a pure function)."""
    w = rel.topic.weights
    body = normalize_for_matching(text)
    head = normalize_for_matching(title or "")
    full = f"{head}\n{body}"
    a = _hits(rel.tier_a, full)
    b = _hits(rel.tier_b, full)
    neg = _hits(rel.negative, full)
    reasons: list[str] = []
    score = w.tier_a * len(a) + w.tier_b * min(len(b), w.tier_b_cap)
    title_hit = bool(head) and (
        any(g.pattern.search(head) for g in rel.tier_a)
        or any(g.name == "taliban" and g.pattern.search(head) for g in rel.tier_b)
    )
    if title_hit:
        score += w.title
        reasons.append("title")
    sides = {g.side for g in (*a, *b) if g.side}
    if {"pakistan", "afghanistan"} <= sides:
        score += w.cross_border
        reasons.append("cross-border")
    if url and _is_commentary(rel, url):
        score += w.commentary
        reasons.append("commentary")
    if not a and neg:
        score -= w.negative * len(neg)
        reasons.append("negative")
    keep = score >= rel.threshold
    if not keep and rel.topic.always_keep:
        by_name = {g.name: g for g in (*rel.tier_a, *rel.tier_b)}
        for paragraph in (head, *body.split("\n")):
            if any(
                all(by_name[n].pattern.search(paragraph) for n in combo) for combo in rel.topic.always_keep
            ):
                keep = True
                reasons.append("always-keep")
                break
    return Score(
        score=float(score),
        keep=keep,
        tier_a=tuple(g.name for g in a),
        tier_b=tuple(g.name for g in b),
        negative=tuple(g.name for g in neg),
        reasons=tuple(reasons),
    )


def _is_commentary(rel: Relevance, url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    if host in rel.commentary_sites:
        return True
    return any(p.search(url) for p in rel.commentary)
