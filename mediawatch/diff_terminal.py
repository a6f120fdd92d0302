"""Terminal rendering of a comparison: a side-by-side table (colour on a TTY, markers otherwise).

Archived text must not drive the terminal: the caller passes ``safe`` (the CLI's
``terminal_safe``), applied to every piece of crawled text before it is styled. Text objects
are built from plain strings with styles, never parsed as rich markup.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from archive.diff import Comparison, Op


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
    for row in comparison.rows:
        if changed_only and row.kind.value == "equal":
            continue
        marker = "" if row.kind.value in ("equal", "changed") else f" {row.kind.value}"
        table.add_row(
            str(row.old_index + 1) if row.old_index is not None else "",
            _cell(row.old_ops, colour, safe),
            (str(row.new_index + 1) if row.new_index is not None else "") + marker,
            _cell(row.new_ops, colour, safe),
        )
    return table
