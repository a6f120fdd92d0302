"""archive/ is usable with no crawler: it never imports Scrapy or crawler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import archive

ARCHIVE = Path(archive.__file__).parent


def test_archive_modules_never_import_scrapy_or_the_crawler() -> None:
    modules = sorted(
        "archive"
        + ("." + ".".join(p.relative_to(ARCHIVE).with_suffix("").parts)).replace(".__init__", "")
        for p in ARCHIVE.rglob("*.py")
    )
    code = (
        "import sys, importlib\n"
        f"for m in {[m.rstrip('.') for m in modules]!r}:\n"
        "    importlib.import_module(m)\n"
        "banned = ('scrapy.', 'twisted', 'crawler')\n"
        "bad = sorted(m for m in sys.modules if m == 'scrapy' or m.startswith(banned))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"archive/ pulled in: {done.stdout.strip()}"
