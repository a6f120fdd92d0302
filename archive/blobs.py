"""Content-addressed raw captures: SHA-256 keyed, zstd-compressed, stored once, verified on read."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import zstandard
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.db import insert_ignore
from archive.errors import MediawatchError
from archive.lookups import in_chunks
from archive.models import Blob

ZSTD_LEVEL = 3  # ~5x on HTML at ~350 MB/s (docs/development.md, Benchmarks)
_local = threading.local()


class BlobCorruptError(MediawatchError):
    """A stored blob does not match its digest."""


def _compressor() -> zstandard.ZstdCompressor:
    if not hasattr(_local, "cctx"):
        _local.cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        _local.dctx = zstandard.ZstdDecompressor()
    return _local.cctx


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(data: bytes) -> bytes:
    return _compressor().compress(data)


def decompress(data: bytes) -> bytes:
    _compressor()
    return _local.dctx.decompress(data)


def put_blob(
    session: Session, raw: bytes, digest: str | None = None, *, compressed: bytes | None = None
) -> str:
    """Store raw bytes once (idempotent under concurrency) and return their SHA-256.

    ``compressed``: ``compress(raw)`` when the caller already has it (compressed off the writer).
    """
    digest = digest or sha256_hex(raw)
    # On the connection: the session's ORM bulk-insert layer costs more than the insert.
    session.connection().execute(
        insert_ignore(session, Blob),
        {
            "sha256": digest,
            "size": len(raw),
            "compression": "zstd",
            "data": compressed if compressed is not None else compress(raw),
        },
    )
    return digest


def get_blob(session: Session, digest: str) -> bytes | None:
    return get_blobs(session, [digest]).get(digest)


def get_blobs(session: Session, digests: Sequence[str]) -> dict[str, bytes]:
    """The raw bytes of each stored blob among ``digests``, checked against its digest."""
    found = {}
    for chunk in in_chunks(digests):
        for digest, data in session.execute(select(Blob.sha256, Blob.data).where(Blob.sha256.in_(chunk))):
            raw = decompress(data)
            if sha256_hex(raw) != digest:
                raise BlobCorruptError(f"blob {digest} does not match its digest")
            found[digest] = raw
    return found
