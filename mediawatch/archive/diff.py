"""Word-level diffs between two versions of an article (pure functions)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\S+|\n")


@dataclass(frozen=True)
class Op:
    kind: str  # "equal" | "insert" | "delete"
    text: str


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


def unified(old: str, new: str, *, old_label: str = "a", new_label: str = "b") -> str:
    """A unified diff of paragraphs (one paragraph a line)."""
    lines = difflib.unified_diff(
        (old or "").split("\n"), (new or "").split("\n"), old_label, new_label, lineterm=""
    )
    return "\n".join(lines)
