"""Imported once by the extraction pool's forkserver, before it forks any worker.

Each worker would otherwise build, on its first pages, what extraction builds once per process
(trafilatura's imports, dateparser's tables of every locale, the MinHash library): several
seconds of CPU per worker, paid again by every worker started after one was killed for a page
over its time limit. Built here, every worker forked from the forkserver starts with them.
"""

from __future__ import annotations

import logging

from archive.derive import warm_up as warm_up_derive
from archive.extract import warm_up as warm_up_extract

try:
    warm_up_extract()
    warm_up_derive()
except Exception:  # noqa: BLE001 - the forkserver must start: each worker then warms on its own
    logging.getLogger(__name__).warning("extraction warm-up failed in the forkserver", exc_info=True)
