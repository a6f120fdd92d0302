"""Imported once by the extraction pool's forkserver, before it forks any worker.

Each worker would otherwise import and warm up, on its own, what extraction and deriving need
(trafilatura and its models, the MinHash library and SciPy behind it): about half a second of
CPU per worker, and again for every worker started after one was killed for a page over its time
limit. Done here once, every worker forked from the forkserver starts with it.
"""

from __future__ import annotations

import logging

from crawler.extraction import warm_up_worker

try:
    warm_up_worker()
except Exception:  # noqa: BLE001 - the forkserver must start: each worker then warms on its own
    logging.getLogger(__name__).warning("extraction warm-up failed in the forkserver", exc_info=True)
