"""Neutralising archived text for terminals and mail readers.

Imports nothing heavy: the CLI loads it at start-up.
"""

from __future__ import annotations

import re

# C0/C1 control characters (ESC, BEL, …) except newline and tab, and bidi overrides: archived
# text must not drive a terminal or a mail reader (docs/fetching-safely.md, Hostile text). Lone
# surrogates (undecodable bytes of a file name or argument) cannot be encoded for output at all.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def control_safe(text: str | None) -> str:
    """``text`` with control, bidi-override and lone surrogate characters shown as ``\\uXXXX`` escapes."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text or "")
