"""Confirming re-fetch of a possibly edited article (issue 5, "No false edits").

When a known article comes back 200 with raw bytes that differ from the last capture's, the
spider fetches the same URL once more (no conditional headers, past the duplicate filter) and
the pipeline records the first fetch with the second as ``Capture.confirm``: text that changes
on every request (rotating teasers, per-request counters) is masked, a real edit is in both
fetches and survives. New articles and byte-identical revisits are never fetched twice.
These are plain functions; the spider only turns their answers into requests and items.
"""

from __future__ import annotations

from typing import Any

from archive.blobs import sha256_hex
from crawler.state import Revisit

STAT_PREFIX = "mediawatch/confirm/"


def needs_confirmation(item: dict[str, Any]) -> bool:
    """Whether a fetched page item (see ``ArchiveSpider.on_article``) must be fetched again.

    Only a revisit of a known article, answered 2xx with a body whose SHA-256 differs from the
    article's ``last_raw_sha256`` (a possible edit), and not itself a confirmation.
    """
    revisit = item.get("revisit")
    body = item.get("body")
    status = item.get("status")
    if not isinstance(revisit, Revisit) or body is None or status is None or not 200 <= status < 300:
        return False
    if "confirm" in item:
        return False
    return revisit.raw_sha256 != sha256_hex(body)


def confirmed(
    first: dict[str, Any], status: int | None, body: bytes | None, final_url: str | None
) -> dict[str, Any]:
    """The first fetch's item, carrying the confirming fetch's body (None when it is unusable).

    A confirming fetch that failed, was not a 2xx, or ended on another URL than the first
    (a redirect that moved meanwhile) confirms nothing: the first fetch is recorded on its own.
    """
    usable = (
        body is not None
        and status is not None
        and 200 <= status < 300
        and (final_url or first["url"]) == (first.get("final_url") or first["url"])
    )
    return {**first, "confirm": body if usable else None}


def outcome_key(item: dict[str, Any]) -> str:
    """The stats key (under ``mediawatch/confirm/``) for how a confirmation ended."""
    if item.get("confirm") is None:
        return "unusable"
    return "identical" if item["confirm"] == item.get("body") else "differs"
