"""What the store derives from a capture without the database, computed where the CPU is.

``record_fetch`` compares versions by their key text, links republications by the key's
shingles and MinHash signature, and keeps the raw bytes hashed and compressed. None of that
needs the database, and together it costs a few milliseconds a page: done by the one writer of
a crawl it would make the writer the bottleneck. So whoever extracts a page (a crawl's process
pool, a bulk import's executor) also derives these and hands them over in ``Capture.derived``;
``record_fetch`` uses them when they match what it needs and computes them itself otherwise, so
a caller that passes nothing gets the same result.

Everything here is a pure function of its arguments and picklable, so it runs in any
``concurrent.futures`` executor (a local process pool, or a cluster's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archive.blobs import compress, sha256_hex
from archive.extract import Extracted, ExtractionError, extract, storable
from archive.volatile import key_digest, key_text

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Derived:
    """Data derived from one capture ahead of ``record_fetch`` (each part optional).

    ``key`` is ``volatile.key_text`` of the extracted text with ``patterns``; ``grams`` and
    ``signature`` are ``dedup.shingles`` and ``dedup.signature`` of that key (the signature as
    ``dedup.to_bytes``; None when the text is too short to have one). ``compressed`` is the raw
    bytes as ``blobs.compress`` stores them.
    """

    raw_sha256: str | None = None
    compressed: bytes | None = None
    patterns: tuple[str, ...] = ()
    key: str | None = None
    key_sha256: str | None = None
    grams: frozenset[bytes] | None = None
    signature: bytes | None = None

    def key_for(self, patterns: Sequence[str]) -> str | None:
        """The precomputed key text when it was derived with these patterns, else None."""
        return self.key if self.key is not None and tuple(patterns) == self.patterns else None

    def dedup_for(self, key: str) -> tuple[frozenset[bytes], np.ndarray | None] | None:
        """(shingles, signature) of ``key`` when they were derived from exactly that key."""
        if self.grams is None or self.key != key:
            return None
        from archive.dedup import from_bytes

        return self.grams, (from_bytes(self.signature) if self.signature is not None else None)


def derive(
    extracted: Extracted | None,
    raw: bytes | None,
    patterns: Sequence[str] = (),
    *,
    light: bool = False,
) -> Derived:
    """Everything ``record_fetch`` can use ahead of time for this extraction and these bytes.

    ``light``: the digest and the key text only (no compressed bytes, shingles or signature).
    """
    from archive import dedup

    patterns = tuple(patterns)
    raw_sha256 = sha256_hex(raw) if raw is not None else None
    compressed = compress(raw) if raw is not None and not light else None
    if extracted is None:
        return Derived(raw_sha256=raw_sha256, compressed=compressed, patterns=patterns)
    key = key_text(storable(extracted).text, patterns)
    if light:
        return Derived(raw_sha256=raw_sha256, patterns=patterns, key=key, key_sha256=key_digest(key))
    grams = dedup.shingles(key)
    hashvalues = dedup.signature(key, grams)
    return Derived(
        raw_sha256=raw_sha256,
        compressed=compressed,
        patterns=patterns,
        key=key,
        key_sha256=key_digest(key),
        grams=frozenset(grams),
        signature=dedup.to_bytes(hashvalues) if hashvalues is not None else None,
    )


@dataclass(frozen=True)
class Prepared:
    """One page extracted and derived (``extracted`` None and ``error`` set when it failed)."""

    extracted: Extracted | None
    derived: Derived
    error: str | None = None
    score: Any = None  # what ``score`` returned, when one was given


def prepare(
    raw: bytes,
    url: str | None,
    content_type: str | None,
    patterns: Sequence[str] = (),
    extractor: Callable[..., Extracted] = extract,
    score: Callable[[Extracted, str | None], Any] | None = None,
    *,
    light: bool = False,
) -> Prepared:
    """Extract a page and derive what the store needs from it: the unit of work of a pool.

    ``score`` (a topic scorer, optional) is run on the extraction too; ``light``: see ``derive``.
    """
    try:
        extracted = extractor(raw, url=url, content_type=content_type)
    except ExtractionError as exc:
        return Prepared(None, derive(None, raw, patterns, light=light), str(exc))
    derived = derive(extracted, raw, patterns, light=light)
    return Prepared(extracted, derived, score=score(extracted, url) if score is not None else None)


def warm_up() -> None:
    """Import what deriving needs (the MinHash library pulls in SciPy) before the first page."""
    from archive import dedup

    dedup.signature(" ".join(f"warm{i} up" for i in range(40)))
