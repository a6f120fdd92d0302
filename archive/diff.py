"""Word-level diffs between two versions of an article (pure functions)."""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from archive.serialize import json_field

_TOKEN = re.compile(r"\S+|\n")


@dataclass(frozen=True)
class Op:
    kind: str = json_field(name="op")  # "equal" | "insert" | "delete"
    text: str = json_field()


def tokens(text: str) -> list[str]:
    """Words, with paragraph breaks kept as their own token."""
    return _TOKEN.findall(text or "")


def word_ops(old: str, new: str) -> list[Op]:
    """The edit script turning ``old`` into ``new``, word by word (replace = delete + insert)."""
    a, b = tokens(old), tokens(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 20000)
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append(Op("equal", _join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(Op("delete", _join(a[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(Op("insert", _join(b[j1:j2])))
    return ops


def _join(words: list[str]) -> str:
    return " ".join(words).replace(" \n ", "\n").replace("\n ", "\n").replace(" \n", "\n")


def word_counts(old: str, new: str) -> tuple[int, int]:
    """(words added, words removed) going from ``old`` to ``new``."""
    added = removed = 0
    for op in word_ops(old, new):
        n = len([w for w in op.text.split() if w])
        if op.kind == "insert":
            added += n
        elif op.kind == "delete":
            removed += n
    return added, removed


def unified(old: str, new: str, *, old_label: str = "a", new_label: str = "b", context: int = 3) -> str:
    """A unified diff of paragraphs (one paragraph a line), ``context`` unchanged lines around each hunk."""
    lines = difflib.unified_diff(
        (old or "").split("\n"), (new or "").split("\n"), old_label, new_label, lineterm="", n=context
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Paragraph-aligned comparison of two versions: inline and side-by-side views, metadata changes
# and a change summary. Everything below is pure: strings in, frozen dataclasses out; renderers
# (terminal, HTML) escape the op texts themselves.

# Two paragraphs at least this similar (rapidfuzz ratio, 0-100) are one paragraph rewritten.
REWRITE_SIMILARITY = 50.0
# A paragraph removed here and added there at least this similar has moved.
MOVE_SIMILARITY = 80.0
# Shorter paragraphs (datelines, captions) only count as moved when identical.
MOVE_MIN_WORDS = 6
# Above this many candidate pairs in one changed region, only nearby pairs are compared.
MAX_PAIRINGS = 40_000
# Up to this share of changed words (and at least MINOR_MIN_WORDS) an edit is "minor".
MINOR_SHARE = 0.02
MINOR_MIN_WORDS = 12
METADATA_FIELDS = ("title", "byline", "published", "modified")

_NOTICE = re.compile(
    r"\b(?:corrections?|clarifications?|updated?|editor['’]s note)\s*[:：]|"
    r"\bthis (?:article|story|report|post) (?:has been|was) (?:updated|corrected|amended|revised)\b|"
    r"\ban earlier version of this (?:article|story|report|post)\b",
    re.IGNORECASE,
)
_CORRECTION = re.compile(r"correct|clarif|earlier version|misstated|misidentified", re.IGNORECASE)
# Typography-only differences: quotes, dashes, spaces, ellipses, punctuation, case.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


class ChangeLabel(enum.StrEnum):
    NONE = "none"
    COSMETIC = "cosmetic"  # whitespace, punctuation, typography, case or encoding only
    MINOR = "minor"
    SUBSTANTIVE = "substantive"


class RowKind(enum.StrEnum):
    EQUAL = "equal"
    CHANGED = "changed"  # the same paragraph, rewritten
    ADDED = "added"
    REMOVED = "removed"
    MOVED = "moved"  # the same paragraph (maybe edited) at another place


@dataclass(frozen=True)
class Row:
    """One line of the side-by-side view: a paragraph of the old version next to its new self.

    ``old_ops`` holds equal and delete ops, ``new_ops`` equal and insert ops; ``ops`` is the
    inline edit script of the pair (all three kinds, in reading order).
    """

    kind: RowKind
    old_index: int | None
    new_index: int | None
    old_ops: tuple[Op, ...] = json_field(skip=True)  # the JSON carries ``ops`` (all three kinds)
    new_ops: tuple[Op, ...] = json_field(skip=True)
    ops: tuple[Op, ...] = json_field()
    similarity: float = json_field(skip=True, default=100.0)

    json_extra: ClassVar[dict[str, Any]] = {"similarity": lambda row: round(row.similarity, 1)}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str | None = json_field(name="from")
    new: str | None = json_field(name="to")
    ops: tuple[Op, ...] = json_field()
    cosmetic: bool = json_field()


@dataclass(frozen=True)
class Notice:
    kind: str  # "correction" | "update"
    text: str


@dataclass(frozen=True)
class ChangeSummary:
    words_added: int
    words_removed: int
    paragraphs_added: int
    paragraphs_removed: int
    paragraphs_changed: int
    paragraphs_moved: int
    cosmetic_tokens: int  # changed tokens whose difference is only typography or encoding
    label: ChangeLabel
    notices: tuple[Notice, ...]
    metadata_changed: tuple[str, ...]
    encoding_suspect: bool  # the new text looks mis-decoded (UTF-8 read as Latin-1 / cp1252)


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    metadata: tuple[FieldChange, ...]
    summary: ChangeSummary

    @property
    def inline(self) -> list[Op]:
        """The inline word diff in reading order, one paragraph break (``\\n`` op) between rows."""
        out: list[Op] = []
        for row in self.rows:
            if out:
                out.append(Op("equal", "\n"))
            out.extend(row.ops)
        return out


def visible_rows(rows: tuple[Row, ...] | list[Row], changed_only: bool) -> list[Row | int]:
    """The rows to show: all of them, or only the changed ones with each run of skipped unchanged
    rows replaced by its length (an ``int``), so a renderer can mark where text was left out."""
    if not changed_only:
        return list(rows)
    out: list[Row | int] = []
    skipped = 0
    for row in rows:
        if row.kind is RowKind.EQUAL:
            skipped += 1
            continue
        if skipped:
            out.append(skipped)
            skipped = 0
        out.append(row)
    if skipped:
        out.append(skipped)
    return out


def no_differences(comparison: Comparison) -> bool:
    """Both versions read the same: every paragraph equal and no metadata field changed."""
    return not comparison.metadata and all(row.kind is RowKind.EQUAL for row in comparison.rows)


class VersionLike(Protocol):
    text: str
    title: str | None
    byline: str | None
    published: str | None
    modified: str | None


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs (one a line), whitespace-collapsed."""
    return [" ".join(line.split()) for line in (text or "").split("\n") if line.strip()]


def word_diff(old: str, new: str) -> tuple[Op, ...]:
    """Word-level edit script of two short texts (paragraphs, titles); replace = delete + insert."""
    a, b = old.split(), new.split()
    if a == b:
        return (Op("equal", " ".join(a)),) if a else ()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append(Op("equal", " ".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            ops.append(Op("delete", " ".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            ops.append(Op("insert", " ".join(b[j1:j2])))
    return tuple(ops)


def _row(kind: RowKind, old_i: int | None, new_i: int | None, old: str, new: str, sim: float) -> Row:
    if kind is RowKind.ADDED:
        op = (Op("insert", new),)
        return Row(kind, None, new_i, (), op, op, 0.0)
    if kind is RowKind.REMOVED:
        op = (Op("delete", old),)
        return Row(kind, old_i, None, op, (), op, 0.0)
    ops = word_diff(old, new)
    return Row(
        kind,
        old_i,
        new_i,
        tuple(o for o in ops if o.kind != "insert"),
        tuple(o for o in ops if o.kind != "delete"),
        ops,
        sim,
    )


def _similarity(a: str, b: str) -> float:
    # Imported here: the read-only commands import this module for its types and labels, and
    # rapidfuzz's native modules would add to every command's start-up.
    from rapidfuzz import fuzz

    return float(fuzz.ratio(a, b))


def _pair_region(
    old: list[str], new: list[str], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[int | None, int | None, float]]:
    """Pair rewritten paragraphs inside one changed region, keeping their order (an LCS by score)."""
    n_old, n_new = i2 - i1, j2 - j1
    if n_old == 0 or n_new == 0:
        return [(i, None, 0.0) for i in range(i1, i2)] + [(None, j, 0.0) for j in range(j1, j2)]
    band = None if n_old * n_new <= MAX_PAIRINGS else max(3, MAX_PAIRINGS // max(n_old, n_new))
    score: dict[tuple[int, int], float] = {}
    for i in range(n_old):
        for j in range(n_new):
            if band is not None and abs(i * n_new // n_old - j) > band:
                continue
            s = _similarity(old[i1 + i], new[j1 + j])
            if s >= REWRITE_SIMILARITY:
                score[i, j] = s
    # Dynamic programme: best total similarity of order-preserving pairs.
    best = [[0.0] * (n_new + 1) for _ in range(n_old + 1)]
    for i in range(n_old - 1, -1, -1):
        for j in range(n_new - 1, -1, -1):
            take = score.get((i, j))
            best[i][j] = max(best[i + 1][j], best[i][j + 1], (take + best[i + 1][j + 1]) if take else 0.0)
    pairs: list[tuple[int | None, int | None, float]] = []
    i = j = 0
    while i < n_old and j < n_new:
        take = score.get((i, j))
        if take and best[i][j] == take + best[i + 1][j + 1]:
            pairs.append((i1 + i, j1 + j, take))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            pairs.append((i1 + i, None, 0.0))
            i += 1
        else:
            pairs.append((None, j1 + j, 0.0))
            j += 1
    pairs.extend((i1 + k, None, 0.0) for k in range(i, n_old))
    pairs.extend((None, j1 + k, 0.0) for k in range(j, n_new))
    return pairs


def align(old_text: str, new_text: str) -> list[Row]:
    """Side-by-side rows aligned by paragraph: equal, rewritten, added, removed and moved paragraphs.

    Identical paragraphs are matched first (a diff over whole paragraphs), then rewritten ones
    inside each changed region, then a paragraph removed in one place and added in another
    with at least MOVE_SIMILARITY is a move: it is shown at its new place next to its old self.
    Rows follow the new version's order; a removed paragraph sits where it used to be.
    """
    old, new = paragraphs(old_text), paragraphs(new_text)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    pairs: list[tuple[int | None, int | None, float]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.extend((i1 + k, j1 + k, 100.0) for k in range(i2 - i1))
        else:
            pairs.extend(_pair_region(old, new, i1, i2, j1, j2))
    # Moves: unmatched old paragraphs that reappear, near-identical, among unmatched new ones.
    lonely_old = [i for i, j, _ in pairs if j is None and i is not None]
    lonely_new = [j for i, j, _ in pairs if i is None and j is not None]
    moved_to: dict[int, tuple[int, float]] = {}
    if lonely_old and lonely_new and len(lonely_old) * len(lonely_new) <= MAX_PAIRINGS:
        taken: set[int] = set()
        for n in lonely_new:
            best_i, best_s = None, MOVE_SIMILARITY
            short = len(new[n].split()) < MOVE_MIN_WORDS
            for k in lonely_old:
                if k in taken or (short and old[k] != new[n]):
                    continue
                s = _similarity(old[k], new[n])
                if s >= best_s:
                    best_i, best_s = k, s
            if best_i is not None:
                taken.add(best_i)
                moved_to[n] = (best_i, best_s)
    moved_from = {i for i, _ in moved_to.values()}
    rows: list[Row] = []
    for i, j, sim in pairs:
        if i is not None and j is not None:
            kind = RowKind.EQUAL if old[i] == new[j] else RowKind.CHANGED
            rows.append(_row(kind, i, j, old[i], new[j], sim))
        elif j is not None and j in moved_to:
            src, s = moved_to[j]
            rows.append(_row(RowKind.MOVED, src, j, old[src], new[j], s))
        elif j is not None:
            rows.append(_row(RowKind.ADDED, None, j, "", new[j], 0.0))
        elif i is not None and i not in moved_from:
            rows.append(_row(RowKind.REMOVED, i, None, old[i], "", 0.0))
    return rows


def _fold(word: str) -> str:
    """A word with typography, punctuation and case taken away."""
    return _NON_WORD.sub("", word.translate(_TYPOGRAPHY)).casefold()


def _mojibake_of(word: str) -> str | None:
    """The word as it was before being mis-decoded (UTF-8 read as cp1252/Latin-1), if it was."""
    if word.endswith("\u00c2"):  # a no-break space mis-decoded: "Â" + U+00A0, split off as space
        stripped = word[:-1]
        return _mojibake_of(stripped) or stripped
    if not _MOJIBAKE_HINT.search(word):
        return None
    for codec in ("cp1252", "latin-1"):
        try:
            repaired = word.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            # cp1252 cannot encode 0x80-0x9f controls that Latin-1 decoding leaves behind
            continue
        if repaired != word:
            return repaired
    # Mixed: fix the runs that repair, keep the rest ("âroamingâ" from curly quotes).
    repaired = _MOJIBAKE_RUN.sub(_repair_run, word)
    return repaired if repaired != word else None


_MOJIBAKE_HINT = re.compile(r"[\u00c2-\u00f4][\u0080-\u00bf\u0152-\u2122]")
_MOJIBAKE_RUN = re.compile(r"[\u00c2-\u00f4][\u0080-\u00bf\u0152-\u2122\u00a0-\u00bf]{1,3}")


def _repair_run(match: re.Match[str]) -> str:
    run = match.group(0)
    for codec in ("cp1252", "latin-1"):
        try:
            return run.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return run


def _cosmetic_pair(deleted: list[str], inserted: list[str]) -> tuple[bool, int]:
    """Whether a delete/insert pair differs only by typography or encoding; (cosmetic, mojibake)."""
    mojibake = 0
    fixed: list[str] = []
    for word in inserted:
        repaired = _mojibake_of(word)
        if repaired is not None:
            mojibake += 1
            word = repaired
        fixed.append(word)
    folded_old = "".join(_fold(w) for w in deleted)
    folded_new = "".join(_fold(w) for w in fixed)
    if folded_old == folded_new:
        return True, mojibake
    # Mis-decoding that lost bytes (C1 controls dropped): "don’t" -> "donât". Same ASCII skeleton
    # and the telltale lead characters of UTF-8 read as Latin-1 on the new side.
    if any(_MOJIBAKE_LEAD.search(w) for w in inserted) and _ascii_fold(deleted) == _ascii_fold(inserted):
        return True, mojibake + sum(1 for w in inserted if _MOJIBAKE_LEAD.search(w))
    return False, mojibake


_MOJIBAKE_LEAD = re.compile(r"[\u00c2\u00c3\u00e2]")


def _ascii_fold(words: list[str]) -> str:
    return "".join(_NON_WORD.sub("", w.encode("ascii", "ignore").decode()).casefold() for w in words)


def _ops_pairs(ops: tuple[Op, ...]) -> list[tuple[list[str], list[str]]]:
    """Group an edit script into (deleted words, inserted words) hunks."""
    hunks: list[tuple[list[str], list[str]]] = []
    current: tuple[list[str], list[str]] | None = None
    for op in ops:
        if op.kind == "equal":
            current = None
            continue
        if current is None:
            current = ([], [])
            hunks.append(current)
        (current[0] if op.kind == "delete" else current[1]).extend(op.text.split())
    return hunks


def field_changes(old: VersionLike, new: VersionLike) -> list[FieldChange]:
    """Title, byline and declared dates that differ, each with its own word diff."""
    changes = []
    for name in METADATA_FIELDS:
        a, b = getattr(old, name), getattr(new, name)
        if (a or None) == (b or None):
            continue
        ops = word_diff(a or "", b or "")
        cosmetic = all(_cosmetic_pair(d, i)[0] for d, i in _ops_pairs(ops))
        changes.append(FieldChange(name, a, b, ops, cosmetic))
    return changes


def find_notices(paragraph_texts: list[str]) -> list[Notice]:
    """Correction and update notices ("Correction:", "This article has been updated", …)."""
    found: list[Notice] = []
    for text in paragraph_texts:
        match = _NOTICE.search(text)
        if match is None:
            continue
        start = max(0, text.rfind(". ", 0, match.start()) + 1) if match.start() > 200 else 0
        snippet = text[start : start + 400].strip()
        kind = "correction" if _CORRECTION.search(snippet) else "update"
        found.append(Notice(kind, snippet))
    return found


def summarize(rows: list[Row], metadata: list[FieldChange]) -> ChangeSummary:
    added = removed = cosmetic_tokens = mojibake = 0
    substantive_words = 0
    counts = dict.fromkeys(RowKind, 0)
    new_paragraphs: list[str] = []
    for row in rows:
        if row.kind is RowKind.EQUAL:
            counts[row.kind] += 1
            continue
        hunks = _ops_pairs(row.ops)
        all_cosmetic = all(_cosmetic_pair(d, i)[0] for d, i in hunks)
        # A paragraph that is only an encoding artefact ("Â") is not a paragraph added.
        counts[RowKind.CHANGED if all_cosmetic and row.kind is not RowKind.MOVED else row.kind] += 1
        for deleted, inserted in hunks:
            added += len(inserted)
            removed += len(deleted)
            cosmetic, bad = _cosmetic_pair(deleted, inserted)
            mojibake += bad
            if cosmetic:
                cosmetic_tokens += max(len(deleted), len(inserted))
            else:
                substantive_words += max(len(deleted), len(inserted))
        if row.kind in (RowKind.ADDED, RowKind.CHANGED, RowKind.MOVED):
            new_paragraphs.append(" ".join(op.text for op in row.new_ops))
    old_notices = {
        n.text for n in find_notices([" ".join(op.text for op in row.old_ops) for row in rows if row.old_ops])
    }
    notices = tuple(n for n in find_notices(new_paragraphs) if n.text not in old_notices)
    total_words = sum(len(op.text.split()) for row in rows for op in row.new_ops) or 1
    meta_substantive = [m.field for m in metadata if not m.cosmetic]
    structural = counts[RowKind.ADDED] + counts[RowKind.REMOVED]
    if not added and not removed and not metadata:
        label = ChangeLabel.NONE
    elif not substantive_words and not meta_substantive:
        label = ChangeLabel.COSMETIC
    elif (
        notices
        or structural
        or substantive_words > max(MINOR_MIN_WORDS, MINOR_SHARE * total_words)
        or "title" in meta_substantive
    ):
        label = ChangeLabel.SUBSTANTIVE
    else:
        label = ChangeLabel.MINOR
    return ChangeSummary(
        words_added=added,
        words_removed=removed,
        paragraphs_added=counts[RowKind.ADDED],
        paragraphs_removed=counts[RowKind.REMOVED],
        paragraphs_changed=counts[RowKind.CHANGED],
        paragraphs_moved=counts[RowKind.MOVED],
        cosmetic_tokens=cosmetic_tokens,
        label=label,
        notices=notices,
        metadata_changed=tuple(m.field for m in metadata),
        encoding_suspect=mojibake >= 3,
    )


def compare(old: VersionLike, new: VersionLike) -> Comparison:
    """Everything an archivist needs about one change: aligned rows, metadata, a summary."""
    rows = align(old.text or "", new.text or "")
    metadata = field_changes(old, new)
    return Comparison(tuple(rows), tuple(metadata), summarize(rows, metadata))


@dataclass(frozen=True)
class TextVersion:
    """A stand-alone version (tests, imports, bench): the fields compare() reads."""

    text: str
    title: str | None = None
    byline: str | None = None
    published: str | None = None
    modified: str | None = None
