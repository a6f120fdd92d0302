"""How relevant a page is to the topic: a pure function of its text, title and URL.

Used by the crawler after extraction and importable by anything else (import, backfill, the
``mediawatch topic test`` command): ``Relevance(load_topic()).score(text, title=..., url=...)``.
The term groups, weights and threshold live in config/topic.yaml; docs/topic.md explains the
rules and the rubric they serve.

The signal is co-occurrence: a place in Pakistan or Afghanistan together with an armed actor or
an act of violence. Counting words over the whole page is not enough, because extracted text
carries page furniture (weather widgets, link lists, navigation): a page about a bombing in
Lahore with "weather" in a widget is still about the bombing, and a cricket report with
"Suicide blast in Peshawar" in its related-links list is still a cricket report. So:

- the *lead* (the title and the first prose sentences) carries most of the weight;
- further evidence counts per *sentence* of prose (a place and an actor/violence in the same
  sentence), capped, so a long page cannot win on volume;
- short lines that are not sentences (headline lists, widgets, menus) never count;
- negative groups count only in the title and lead, and at most ``negative_cap`` in all, so
  they break ties but never cancel strong evidence.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from archive.extract import Extracted
from crawler.config import TermGroup, TopicFile

# Arabic-script normalisation before matching: Arabic yeh/kaf to their Persian/Urdu forms, the
# heh variants to one, Eastern digits to ASCII; no ZWNJ, tatweel or harakat. Pashto letters
# (ټ ډ ړ ښ ږ ګ ڼ) are kept.
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
_SPACES = re.compile(r"[^\S\n]+")
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2019": "'"})
# A sentence ends at . ! ? or the Urdu full stop / Arabic question mark, before a space.
_SENTENCE_END = re.compile(r"(?<=[.!?\u06d4\u061f])\s+")
_WORD = re.compile(r"\w+")


def normalize_for_matching(text: str) -> str:
    """NFC, Arabic-script variants folded, dashes unified, spaces collapsed (newlines kept)."""
    text = unicodedata.normalize("NFC", text or "")
    text = _HARAKAT.sub("", text.translate(_CHAR_MAP)).translate(_DASHES)
    return "\n".join(line.strip() for line in _SPACES.sub(" ", text).split("\n"))


def _term_pattern(term: str) -> str:
    """A whole-word pattern; ``re:`` is a regular expression, a trailing ``*`` any word ending."""
    if term.startswith("re:"):
        return f"(?:{term[3:]})"
    stem = term.endswith("*")
    words = [re.escape(w) for w in normalize_for_matching(term.rstrip("*")).split(" ")]
    return r"(?<!\w)" + r"[ \-]+".join(words) + (r"\w*" if stem else r"(?!\w)")


@dataclass(frozen=True)
class _Group:
    name: str
    role: str
    side: str | None
    bonus: float
    pattern: re.Pattern[str]

    @classmethod
    def build(cls, group: TermGroup) -> _Group:
        flags = 0 if group.case_sensitive else re.IGNORECASE
        alternation = "|".join(_term_pattern(t) for t in group.terms)
        return cls(group.name, group.role, group.side, group.bonus, re.compile(alternation, flags))


@dataclass(frozen=True)
class Score:
    """A page's score, whether it is kept, and why (which groups matched where)."""

    score: float
    keep: bool
    candidate: bool = False  # not kept, but within the topic's candidate margin
    groups: tuple[str, ...] = ()  # every group matched in the title or the article's prose
    lead: tuple[str, ...] = ()  # the groups matched in the title and lead
    negative: tuple[str, ...] = ()  # the negative groups counted (title and lead only)
    reasons: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        return "keep" if self.keep else "candidate" if self.candidate else "skip"

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "keep": self.keep,
            "candidate": self.candidate,
            "groups": list(self.groups),
            "lead": list(self.lead),
            "negative": list(self.negative),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class _Evidence:
    """What one stretch of text (a sentence, the lead, the title) says."""

    groups: frozenset[_Group]

    def roles(self) -> set[str]:
        return {g.role for g in self.groups}

    def places(self) -> set[_Group]:
        # A sided actor (the TTP, the Taliban) implies its place.
        return {g for g in self.groups if g.role == "place" or (g.role == "actor" and g.side)}

    def acts(self, *, casualties: bool = True) -> set[_Group]:
        """The armed actors and acts of violence; with ``casualties``, a security force with harm
        counts too (soldiers killed, police wounded)."""
        acts = {g for g in self.groups if g.role in ("actor", "violence", "militancy")}
        if casualties:
            acts |= {g for g in self.groups if g.role == "forces"}
            if self.casualty():
                acts |= {g for g in self.groups if g.role in ("security", "harm")}
        return acts

    def casualty(self) -> bool:
        return bool(self.roles() & {"forces", "security"}) and "harm" in self.roles()

    def pairs(self, *, casualties: bool = True) -> bool:
        return bool(self.places()) and bool(self.acts(casualties=casualties))

    def detail(self) -> bool:
        """Names at least two of: an armed actor, an act of violence, a casualty."""
        return len(self.roles() & {"actor", "violence", "harm"}) >= 2

    def sides(self) -> set[str]:
        out: set[str] = set()
        for g in self.places():
            out |= {"pakistan", "afghanistan"} if g.side == "border" else {g.side or ""}
        return out - {""}


class Relevance:
    """A compiled topic."""

    def __init__(self, topic: TopicFile) -> None:
        self.topic = topic
        self.groups = [_Group.build(g) for g in topic.groups if g.role != "negative"]
        self.negative = [_Group.build(g) for g in topic.groups if g.role == "negative"]
        self.commentary = [re.compile(p) for p in topic.commentary_url_patterns]
        self.commentary_sites = {s.lower().removeprefix("www.") for s in topic.commentary_sites}
        self.threshold = topic.threshold
        self.candidate_floor = topic.threshold - topic.candidate_margin

    @classmethod
    def from_topic(cls, topic: TopicFile) -> Relevance:
        return cls(topic)

    def score(self, text: str, *, title: str | None = None, url: str | None = None) -> Score:
        return score_page(self, text, title=title, url=url)

    def score_extracted(self, extracted: Extracted, url: str | None) -> Score:
        """How the crawler scores a page it has extracted (and ``mediawatch topic test`` too)."""
        return score_page(self, extracted.text, title=extracted.title, url=url)

    def verdict(self, score: float) -> tuple[bool, bool]:
        """(keep, candidate) for a score under this topic's threshold and margin; a page with
        no evidence at all (score 0 or less) is never a candidate."""
        keep = score >= self.threshold
        return keep, not keep and score >= self.candidate_floor and score > 0


def _is_prose(line: str) -> bool:
    """Whether a line of extracted text is article prose rather than a menu, widget or link."""
    words = len(_WORD.findall(line))
    return words >= 12 or (
        words >= 6 and line.rstrip("\"'”’)»").endswith((".", "!", "?", "\u06d4", "\u061f"))
    )


@dataclass(frozen=True)
class Layout:
    """The parts of an extracted text that the scorer reads."""

    first_paragraph: str  # the first prose line: where negative groups are read
    lead: list[str]  # the sentences of the first prose, up to ``lead_chars``
    rest: list[str]  # the sentences of the remaining prose


def split_text(text: str, lead_chars: int) -> Layout:
    """Split extracted text into lead and body sentences, leaving out lines that are not prose
    (menus, widgets, headline lists). A text without any prose line (a headline and a short
    description) is taken whole."""
    lines = [line for line in text.split("\n") if line.strip()]
    prose = [line for line in lines if _is_prose(line)] or lines
    lead: list[str] = []
    rest: list[str] = []
    size = 0
    for line in prose:
        for sentence in _SENTENCE_END.split(line):
            if size < lead_chars:
                lead.append(sentence)
                size += len(sentence) + 1
            else:
                rest.append(sentence)
    return Layout(prose[0] if prose else "", lead, rest)


def _matches(groups: list[_Group], text: str) -> list[tuple[int, int, _Group]]:
    """Every group's matches, without those inside a longer match of another group: in
    "Pakistani Taliban" (the TTP) neither "Pakistani" nor "Taliban" counts on its own."""
    found = [(m.start(), m.end(), g) for g in groups for m in g.pattern.finditer(text) if m.end() > m.start()]
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    kept: list[tuple[int, int, _Group]] = []
    reach = -1  # the end of the longest match so far
    outer: _Group | None = None
    for start, end, group in found:
        if end <= reach and group is not outer:
            continue
        kept.append((start, end, group))
        if end > reach:
            reach, outer = end, group
    return kept


def _evidence(groups: list[_Group], text: str) -> _Evidence:
    return _Evidence(frozenset(g for _, _, g in _matches(groups, text)))


def _sentence_evidence(groups: list[_Group], sentences: list[str]) -> list[_Evidence]:
    """Evidence per sentence, with one pass of each group's pattern over all of them."""
    if not sentences:
        return []
    starts: list[int] = []
    offset = 0
    for sentence in sentences:
        starts.append(offset)
        offset += len(sentence) + 2
    found: list[set[_Group]] = [set() for _ in sentences]
    for start, _, group in _matches(groups, "\n\n".join(sentences)):
        found[bisect_right(starts, start) - 1].add(group)
    return [_Evidence(frozenset(f)) for f in found]


def _names(groups: set[_Group] | frozenset[_Group], order: list[_Group]) -> tuple[str, ...]:
    return tuple(g.name for g in order if g in groups)


def score_page(rel: Relevance, text: str, *, title: str | None = None, url: str | None = None) -> Score:
    """Score one page against a compiled topic (a pure function)."""
    w = rel.topic.weights
    head = normalize_for_matching(title or "").replace("\n", " ")
    body = normalize_for_matching(text)
    layout = split_text(body, rel.topic.lead_chars)
    rest = layout.rest
    lead_text = "\n".join([head, *layout.lead])

    in_title = _evidence(rel.groups, head)
    in_lead = _evidence(rel.groups, lead_text)
    per_sentence = _sentence_evidence(rel.groups, rest)
    everywhere = in_lead.groups.union(*(e.groups for e in per_sentence))

    score = 0.0
    reasons: list[str] = []
    if in_lead.pairs():
        score += w.lead
        places = _names(in_lead.places(), rel.groups)
        acts = _names(in_lead.acts(), rel.groups)
        reasons.append(f"lead: {'/'.join(places)} + {'/'.join(acts)}")
        if in_lead.detail():
            score += w.lead_detail
            reasons.append("lead: detail")
    if {g.role for g in in_title.acts()} - {"militancy", "forces"} or in_title.casualty():
        score += w.title
        reasons.append("title: actor or violence")
    if in_title.places() and in_lead.pairs():
        score += w.title_place
        reasons.append("title: place")
    # In the body a casualty alone does not pair: floods and earthquakes kill too.
    body_pairs = [e for e in per_sentence if e.pairs(casualties=False)]
    if body_pairs and w.body_pair:
        counted = min(len(body_pairs), w.body_pair_cap)
        score += w.body_pair * counted
        reasons.append(f"body: {len(body_pairs)} sentence(s) pair a place with an actor or violence")
    bonus = min(w.bonus_cap, sum(g.bonus for g in everywhere))
    if bonus:
        score += bonus
        reasons.append(f"named: {'/'.join(_names({g for g in everywhere if g.bonus}, rel.groups))}")
    sides: set[str] = set()
    paired_places: set[_Group] = set()
    for evidence in (in_lead, *body_pairs) if in_lead.pairs() else body_pairs:
        sides |= evidence.sides()
        paired_places |= evidence.places()
    if {"pakistan", "afghanistan"} <= sides and len(paired_places) >= 2:
        score += w.cross_border
        reasons.append("cross-border")
    if score > 0 and url and _is_commentary(rel, url):
        score += w.commentary
        reasons.append("commentary")
    # Negative groups are read in the title and first paragraph only: the article's own words.
    own_words = f"{head}\n{layout.first_paragraph}"
    negative = [g for g in rel.negative if g.pattern.search(own_words)]
    if negative:
        penalty = min(w.negative_cap, w.negative * len(negative))
        score -= penalty
        reasons.append(f"negative: {'/'.join(g.name for g in negative)} (-{penalty:g})")

    keep, candidate = rel.verdict(score)
    if not keep and rel.topic.always_keep:
        by_name = {g.name: g for g in rel.groups}
        for paragraph in (head, *body.split("\n")):
            if any(
                all(by_name[n].pattern.search(paragraph) for n in combo) for combo in rel.topic.always_keep
            ):
                keep, candidate = True, False
                reasons.append("always-keep")
                break
    return Score(
        score=round(score, 3),
        keep=keep,
        candidate=candidate,
        groups=_names(everywhere | in_title.groups, rel.groups),
        lead=_names(in_lead.groups, rel.groups),
        negative=tuple(g.name for g in negative),
        reasons=tuple(reasons),
    )


def _is_commentary(rel: Relevance, url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    if host in rel.commentary_sites:
        return True
    return any(p.search(url) for p in rel.commentary)
