"""What `mediawatch demo` tells a person as it runs: its step lines, in the order printed.

Shared by the tests that run the demo (tests/test_progress.py with its crawls stubbed,
tests/test_crawl.py for real, tests/test_wheel.py from the installed wheel).
"""

from __future__ import annotations

# Each line starts with one of these, in this order (mediawatch/demo.py run_demo).
DEMO_STEPS = [
    "[1/5] serving",
    "[2/5] first crawl",
    "first crawl: ",
    "[3/5] the outlet edits",
    "[4/5] second crawl",
    "second crawl (after an edit and a removal): ",
    "[5/5] checking",
    "confirming check: ",
]


def demo_steps_in_order(output: str) -> list[str]:
    """The demo's step lines (those starting with a DEMO_STEPS prefix), in the order printed."""
    return [p for line in output.splitlines() for p in DEMO_STEPS if line.startswith(p)]
