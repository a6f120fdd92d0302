"""What in an article's text is not the article: volatile furniture, masked before comparing.

A version is keyed by the digest of its *key text*: the normalised text with in-body furniture
removed (relative timestamps, counters, "Also read:" links to rotating headlines, newsletter
promos), using the default patterns below plus a source's own ``ignore_lines``. Text that
changes on every request and matches no pattern is masked by *confirmation*: the crawler
fetches the page twice and only what both fetches agree on counts. Volatility is decided per
paragraph, and inside a long paragraph per *sentence* (:func:`sentences`): a sentence whose
text differs between the two fetches is furniture as a whole, so the words a rotating insert
shares from one request to the next ("Also read: … you may have missed it") never stay behind
to look like an edit. The stored version text is never masked; only the comparison is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from archive.normalize import comparable_line, normalize_text

# Whole lines (paragraphs) that are furniture, not article text. Only short lines are dropped,
# so a real paragraph that happens to start with "Related" survives.
MAX_FURNITURE_LINE = 300
DEFAULT_LINE_PATTERNS: tuple[str, ...] = (
    # links to other stories, usually rotating per request
    r"(?:also read|read also|read more|more from|related(?: articles?| stories| content)?|see also|"
    r"recommended(?: for you)?|trending(?: now)?|most (?:read|popular|viewed)|you (?:may|might) also like|"
    r"don'?t miss|more on this (?:story|topic)|editor'?s picks?|watch|listen|top stories)\s*[:|»›>–—-]",
    # ad and sponsor labels
    r"(?:advertisement|skip advertisement|sponsored(?: content)?|promoted(?: content)?|paid content|"
    r"story continues below(?: advertisement)?|article continues (?:below|after (?:this )?advertisement))"
    r"\W*$",
    # promos for newsletters, apps and social accounts
    r".{0,120}\b(?:sign up (?:for|to)|subscribe to|get) (?:our|the)\b.{0,80}\bnewsletters?\b.*",
    r"(?:download|get) (?:our|the) .{0,40}\bapps?\b.*",
    r"(?:follow us on|share this (?:article|story)|share on (?:facebook|twitter|x|whatsapp))\b.*",
    # updated/time-ago stamps standing on their own line
    r"(?:updated|posted|published|last updated|modified)?\s*:?\s*(?:\d+|an?|one)\s+"
    r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?)\s+ago\W*$",
)
# Fragments inside a paragraph that change without the article changing.
DEFAULT_INLINE_PATTERNS: tuple[str, ...] = (
    r"\b(?:updated|posted|published|last updated|modified)\s*:?\s*(?:\d+|an?|one|just)\s*"
    r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?)?\s*ago\b",
    r"\b\d+\s+(?:seconds?|secs?|minutes?|mins?|hours?|hrs?)\s+ago\b",
    r"\b\d[\d,.]*\s*[kKmM]?\s+(?:comments?|views?|shares?|reads?|likes?|reactions?|"
    r"people (?:are )?reading(?: this)?(?: now)?|readers? (?:now|online))\b",
    r"\b(?:reading|read) time\s*:?\s*\d+\s*min(?:ute)?s?\b",
    r"\b\d+\s*min(?:ute)?s? read\b",
)
MAX_PATTERNS = 200
# Consecutive list items ("- …", as trafilatura renders <li>) up to this long form a list.
MAX_LIST_LINE = 120
MAX_PATTERN_LENGTH = 500


class PatternError(ValueError):
    """A source's ignore pattern is not a usable regular expression."""


# Every default inline pattern starts with a digit or with one of these letters. Asked first (a
# lookahead), they let the regular expression engine pass over every other position of a line at
# once instead of trying each pattern there: the key text is worked out for every page extracted.
_INLINE_FIRST_CHARACTER = r"(?=[\dlmpru])"


@lru_cache(maxsize=256)
def _compiled(
    line_patterns: tuple[str, ...], inline_patterns: tuple[str, ...]
) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    def join(patterns: tuple[str, ...], template: str) -> str:
        return "|".join(template.format(p) for p in patterns)

    def compiled(pattern: str) -> re.Pattern[str] | None:
        if not pattern:
            return None
        try:
            return re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise PatternError(f"bad ignore pattern: {exc}") from None

    defaults = len(DEFAULT_INLINE_PATTERNS)
    if inline_patterns[:defaults] == DEFAULT_INLINE_PATTERNS:
        # Same alternatives, same order: the defaults behind their first characters, then a
        # source's own patterns as given.
        parts = (
            _INLINE_FIRST_CHARACTER + "(?:" + join(DEFAULT_INLINE_PATTERNS, r"(?:{})") + ")",
            join(inline_patterns[defaults:], r"(?:{})"),
        )
        inline = "|".join(part for part in parts if part)
    else:
        inline = join(inline_patterns, r"(?:{})")
    return compiled(join(line_patterns, r"(?:{})")), compiled(inline)


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Validate a source's extra ignore patterns (bounded in number and length, compilable)."""
    result = tuple(patterns)
    if len(result) > MAX_PATTERNS:
        raise PatternError(f"at most {MAX_PATTERNS} ignore patterns")
    for pattern in result:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise PatternError(f"ignore pattern longer than {MAX_PATTERN_LENGTH} characters")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PatternError(f"bad ignore pattern {pattern[:80]!r}: {exc}") from None
    return result


def key_lines(text: str | None, extra: Sequence[str] = ()) -> list[str]:
    """The paragraphs a version is compared by: normalised, furniture lines and fragments removed.

    ``extra`` are a source's own patterns; each is matched against a whole line (anchored at
    its start) and also removed where it occurs inside a line.
    """
    extra = tuple(extra)
    lines_re, inline_re = _compiled(DEFAULT_LINE_PATTERNS + extra, DEFAULT_INLINE_PATTERNS + extra)
    kept = []
    for line in normalize_text(text).split("\n"):
        if lines_re is not None and len(line) <= MAX_FURNITURE_LINE and lines_re.match(line):
            continue
        if inline_re is not None:
            line, masked = inline_re.subn(" ", line)
            if masked:
                line = comparable_line(line)
            # (a line of normalize_text's output is already in its comparable form)
        if line:
            kept.append(line)
    return kept


def key_text(text: str | None, extra: Sequence[str] = ()) -> str:
    """The text a version is compared by (see :func:`key_lines`), as one line."""
    return " ".join(key_lines(text, extra))


def key_digest(text: str) -> str:
    """Digest of an already computed key text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def version_key(text: str | None, extra: Sequence[str] = ()) -> str:
    """The version key: SHA-256 of :func:`key_text`."""
    return key_digest(key_text(text, extra))


def confirmed_key_text(first: str | None, second: str | None, extra: Sequence[str] = ()) -> str:
    """The key text two fetches of the same page agree on.

    What differs between two requests made moments apart is masked: of a paragraph that is not
    the same in both, only the sentences both repeat are kept (:func:`agreed_sentences`), so a
    rotating "Today's pick" line or an "Updated … ago. Also read: …" insert in front of a body
    sentence is dropped whole; a list of short items in which anything rotated is dropped as a
    whole. A real edit is in both fetches and survives.
    """
    a, b = key_lines(first, extra), key_lines(second, extra)
    if a == b:
        return " ".join(a)
    kept: list[str] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    opcodes = matcher.get_opcodes()
    # A list of short items (related links, teasers) in which anything rotated is dropped as a
    # whole: an item that happens to be served on both requests is still a rotating item.
    unstable = {i for tag, a0, a1, _b0, _b1 in opcodes if tag != "equal" for i in range(a0, a1)}
    unstable |= {i for tag, a0, a1, _b0, _b1 in opcodes if tag != "equal" and a0 == a1 for i in (a0 - 1, a0)}
    short_run_dropped: set[int] = set()
    start = 0
    while start < len(a):
        end = start
        while end < len(a) and len(a[end]) <= MAX_LIST_LINE and a[end].startswith(("- ", "• ", "* ")):
            end += 1
        if end - start >= 2 and any(i in unstable for i in range(start, end)):
            short_run_dropped.update(range(start, end))
        start = max(end, start + 1)
    for tag, a0, a1, b0, b1 in opcodes:
        if tag == "equal":
            kept.extend(line for i, line in enumerate(a[a0:a1], start=a0) if i not in short_run_dropped)
            continue
        others = b[b0:b1]
        for i, line in enumerate(a[a0:a1], start=a0):
            agreed = agreed_sentences(line, _closest(line, others)) if others else ""
            if agreed and i not in short_run_dropped:
                kept.append(agreed)
    return " ".join(kept)


def _closest(line: str, others: Sequence[str]) -> str:
    return max(others, key=lambda other: SequenceMatcher(None, line, other, autojunk=False).quick_ratio())


# A sentence ends at . ! ? … (then optional closing quotes or brackets) followed by a space, or at
# a CJK or Arabic-script full stop or question mark. A colon or a decimal point never ends one:
# "Also read: <headline>" and "3.5 million" stay whole.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+|[。！？؟۔]+[\"'”’»)\]」』]*\s*")
_WORDY = re.compile(r"\w")


def sentences(line: str) -> list[str]:
    """A paragraph's sentences, each with its trailing space: ``"".join(sentences(x)) == x``."""
    units, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        units.append(line[start : match.end()])
        start = match.end()
    if start < len(line):
        units.append(line[start:])
    return units


_Opcodes = list[tuple[str, int, int, int, int]]


def _sentence_opcodes(first: str, second: str) -> tuple[list[str], list[str], _Opcodes]:
    a, b = sentences(first), sentences(second)
    matcher = SequenceMatcher(None, [s.strip() for s in a], [s.strip() for s in b], autojunk=False)
    return a, b, list(matcher.get_opcodes())


def agreed_sentences(first: str, second: str) -> str:
    """The sentences of ``first`` that ``second`` repeats, in order, as one line.

    A sentence that differs at all is dropped whole: a per-request insert ("Updated 17 minutes
    ago. Also read: <a random story>, you may have missed it.") leaves nothing behind, while a
    real edit, present in both fetches, is in a sentence both agree on. A sentence left with no
    word in it (the full stop of a masked "Updated … ago.") is not text.
    """
    if first == second:
        return first
    a, _b, opcodes = _sentence_opcodes(first, second)
    kept = [
        unit
        for tag, a0, a1, _b0, _b1 in opcodes
        if tag == "equal"
        for unit in a[a0:a1]
        if _WORDY.search(unit)
    ]
    return "".join(kept).strip()


def _lost_sentences(stored: str, new: str) -> bool:
    """Whether a sentence with words in ``stored`` has no counterpart in ``new`` (deleted)."""
    a, b, opcodes = _sentence_opcodes(stored, new)
    for tag, a0, a1, b0, b1 in opcodes:
        stored_units = [u for u in a[a0:a1] if _WORDY.search(u)]
        new_units = [u for u in b[b0:b1] if _WORDY.search(u)]
        if tag in ("delete", "replace") and len(stored_units) > len(new_units):
            return True
    return False


def only_rotated_since(
    stored: str | None, first: str | None, second: str | None, extra: Sequence[str] = ()
) -> bool:
    """Whether ``stored`` (a version recorded from ONE fetch) differs from a confirmed pair of
    fetches only where the two fetches disagree with each other.

    A version recorded without confirmation (a new article) keeps its per-request furniture in
    its key; the first confirmed check masks that slot. The slot is furniture when the stored
    line was *replaced* by a line the confirming fetch does not repeat: masking the stored text
    against the first fetch gives the same key as the pair agrees on. A stored line with no
    counterpart in the new fetch (a deleted paragraph) is never masked, so a deletion stays an edit.
    The same holds for the sentences of a long paragraph: a stored sentence replaced by one the
    two fetches disagree on is furniture; a stored sentence with no counterpart is a deletion.
    """
    a, f = key_lines(stored, extra), key_lines(first, extra)
    for tag, a0, a1, f0, f1 in SequenceMatcher(None, a, f, autojunk=False).get_opcodes():
        if tag == "delete" or (tag == "replace" and a1 - a0 > f1 - f0):
            return False
        if tag == "replace" and any(_lost_sentences(line, _closest(line, f[f0:f1])) for line in a[a0:a1]):
            return False
    return confirmed_key_text(stored, first, extra) == confirmed_key_text(first, second, extra)


_REPLACEMENT_RUN = re.compile("\ufffd+")


def lossy_matches(lossy: str, stored: str) -> bool:
    """Whether a lossily decoded text says what ``stored`` says, bar the replaced bytes.

    Word by word: equal, or the lossy word matches with each run of U+FFFD standing for one
    to four characters. Used so a bad decoding is recognised as the same text, never an edit.
    """
    a, b = lossy.split(), stored.split()
    if len(a) != len(b):
        return False
    for word, other in zip(a, b, strict=True):
        if word == other:
            continue
        if "\ufffd" not in word:
            return False
        pattern = ".{1,4}".join(re.escape(part) for part in _REPLACEMENT_RUN.split(word))
        if not re.fullmatch(pattern, other):
            return False
    return True
