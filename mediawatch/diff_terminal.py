"""Terminal rendering of a comparison: a side-by-side table (colour on a TTY, markers otherwise).

Archived text must not drive the terminal: the caller passes ``safe`` (the CLI's
``terminal_safe``), applied to every piece of crawled text before it is styled. Text objects
are built from plain strings with styles, never parsed as rich markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from archive.diff import Comparison, Op, align, visible_rows, word_ops

NO_DIFFERENCES = "no differences"
METADATA_FIELDS = ("title", "byline", "published", "modified")


def skipped_marker(count: int) -> str:
    """The line standing for unchanged paragraphs left out by ``--changed-only``."""
    return f"… {count} unchanged paragraph{'s' if count != 1 else ''} …"


def _word_op(op: Op, colour: bool, safe: Callable[[str], str]) -> str:
    text = safe(op.text)
    if op.kind == "insert":
        return click.style(f"{{+{text}+}}", fg="green") if colour else f"{{+{text}+}}"
    if op.kind == "delete":
        return click.style(f"[-{text}-]", fg="red") if colour else f"[-{text}-]"
    return text


def _joined(ops: list[Op] | tuple[Op, ...], colour: bool, safe: Callable[[str], str]) -> str:
    return " ".join(_word_op(op, colour, safe) for op in ops).replace(" \n", "\n").replace("\n ", "\n")


def words(old: Any, new: Any, *, colour: bool, safe: Callable[[str], str], changed_only: bool = False) -> str:
    """The default ``mediawatch diff`` view (also printed by the demo): a header, changed metadata,
    then the text with ``{+inserted+}`` and ``[-deleted-]`` words inline.

    With ``changed_only`` only the changed paragraphs are printed, each run of unchanged ones
    replaced by one marker line.
    """
    lines = [f"version {old.seq} -> version {new.seq}"]
    for name in METADATA_FIELDS:
        if getattr(old, name) != getattr(new, name):
            lines.append(f"{name}: {safe(getattr(old, name))!s} -> {safe(getattr(new, name))!s}")
    if not changed_only:
        lines.append(_joined(word_ops(old.text, new.text), colour, safe))
        return "\n".join(lines)
    for item in visible_rows(align(old.text or "", new.text or ""), changed_only=True):
        lines.append(skipped_marker(item) if isinstance(item, int) else _joined(item.ops, colour, safe))
    return "\n".join(lines)


def _cell(ops: tuple[Op, ...], colour: bool, safe: Callable[[str], str]) -> Text:
    out = Text()
    for index, op in enumerate(ops):
        if index:
            out.append(" ")
        text = safe(op.text)
        if op.kind == "insert":
            out.append(text if colour else f"{{+{text}+}}", style="bold green" if colour else None)
        elif op.kind == "delete":
            out.append(text if colour else f"[-{text}-]", style="bold red strike" if colour else None)
        else:
            out.append(text)
    return out


def summary_line(comparison: Comparison) -> str:
    s = comparison.summary
    line = (
        f"{s.label.value} change: +{s.words_added}/-{s.words_removed} words, paragraphs "
        f"+{s.paragraphs_added}/-{s.paragraphs_removed}/~{s.paragraphs_changed}"
    )
    if s.paragraphs_moved:
        line += f", {s.paragraphs_moved} moved"
    if s.encoding_suspect:
        line += "; the newer text looks mis-decoded (counted as cosmetic)"
    return line


def side_by_side(
    comparison: Comparison,
    *,
    old_label: str,
    new_label: str,
    colour: bool,
    safe: Callable[[str], str],
    changed_only: bool = False,
) -> Table:
    table = Table(show_lines=True, expand=True)
    table.add_column("¶", justify="right", no_wrap=True)
    table.add_column(safe(old_label), ratio=1)
    table.add_column("¶", justify="right", no_wrap=True)
    table.add_column(safe(new_label), ratio=1)
    for row in visible_rows(comparison.rows, changed_only):
        if isinstance(row, int):
            table.add_row(
                "", Text(skipped_marker(row), style="dim"), "", Text(skipped_marker(row), style="dim")
            )
            continue
        marker = "" if row.kind.value in ("equal", "changed") else f" {row.kind.value}"
        table.add_row(
            str(row.old_index + 1) if row.old_index is not None else "",
            _cell(row.old_ops, colour, safe),
            (str(row.new_index + 1) if row.new_index is not None else "") + marker,
            _cell(row.new_ops, colour, safe),
        )
    return table
