"""A writer process for the concurrency and crash tests (run as `python tests/writer_proc.py`)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from corpus_data import eval_pages  # noqa: E402

from archive.db import Archive  # noqa: E402
from archive.extract import Extracted  # noqa: E402
from archive.store import Capture, record  # noqa: E402

URL = "https://www.theguardian.com/education/2020/jan/20/thousands-of-uk-academics-treated-as-second-class-citizens"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def guardian(corpus: Path) -> bytes:
    return next(p for p in eval_pages(corpus) if p.path.name == "theguardian.com.academics.html.gz").raw()


def state(raw: bytes, n: int) -> tuple[bytes, Extracted]:
    """The n-th distinct state of the article: raw bytes and their (cheap, fixed) extraction."""
    edited = raw.replace(b"pool of low-paid staff", f"pool of {n} low-paid staff".encode())
    return edited, Extracted(
        text=f"Edition {n}. " + "Academic staff on precarious contracts. " * 40,
        title="Thousands of UK academics",
        byline="Richard Adams",
    )


def main() -> None:
    mode, db_url, corpus = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    raw = guardian(corpus)
    archive = Archive(db_url, migrate=False)
    if mode == "race":
        # Every racer records the same three states at the same moments.
        for n in range(3):
            edited, _ = state(raw, n)
            record(archive.sessions, Capture(URL, T0 + timedelta(hours=n), raw=edited))
        print("ok")
    elif mode == "churn":
        start = int(sys.argv[4])
        for n in range(start, start + 100000):
            edited, extracted = state(raw, n)
            record(archive.sessions, Capture(URL, T0 + timedelta(minutes=n), raw=edited, extracted=extracted))
            print(n, flush=True)


if __name__ == "__main__":
    main()
