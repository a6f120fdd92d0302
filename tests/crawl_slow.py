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


def date_tables_built(raw: bytes, url: str | None, content_type: str | None) -> Extracted:
    """How many of dateparser's locales have their tables built in this worker, as its text.

    htmldate falls back to dateparser for a date written in words; the first such page in a
    process builds the tables of every locale (seconds of CPU) unless the process started warm.
    """
    from dateparser.languages.dictionary import Dictionary

    built = sum(len(by_locale) for by_locale in Dictionary._split_regex_cache.values())
    return Extracted(text=f"pid {os.getpid()}: {built}")
