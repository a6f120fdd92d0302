"""A stand-in extractor for the extraction-pool tests (imported by the pool's worker processes)."""

from __future__ import annotations

import os
import time

from archive.extract import Extracted


def slow_or_fast(raw: bytes, url: str | None, content_type: str | None) -> Extracted:
    if raw == b"slow":
        time.sleep(600)
    if raw == b"die":
        os._exit(1)
    return Extracted(text=f"pid {os.getpid()}: {raw.decode()}")
