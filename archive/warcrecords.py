"""WARC records: reading, writing and header sanitising, shared by capture, export and import.

The crawl's WARC capture (crawler/warccapture.py), the archive's WARC export and its WARC/ARC
import (archive/warc.py) and the Wayback backfill (archive/wayback.py) all build or read records
with these helpers, so a hostile header or URL is made safe by one rule wherever it enters:

- a header *name* must be an HTTP token (RFC 9110) of at most 200 characters, else the header is
  dropped (a name holding ``:`` or a line break would forge another header);
- a header *value* has every control character but tab (C0 and DEL) replaced by a space, is cut
  at ``MAX_HEADER_VALUE`` characters and stripped; at most ``MAX_HEADERS`` headers are kept;
- a ``WARC-Target-URI`` (and a request line's target) has every control character, DEL and space
  percent-encoded (``%0A``, ``%09``, ``%20``): one header line, and distinct URLs stay distinct.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http
import re
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders

from archive.blobs import sha256_hex

MAX_PAYLOAD_BYTES = 20 * 1024 * 1024  # larger HTML payloads are skipped, never cut
MAX_HEADERS = 100
MAX_HEADER_VALUE = 8192
HTML_TYPES = ("text/html", "application/xhtml+xml")
UNKNOWN_TYPES = ("", "unk", "unknown", "application/octet-stream", "application/unknown")
PROFILE_IDENTICAL = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
PROFILE_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
RECORD_NAMESPACE = uuid.UUID("6f0c5a4e-3b1d-5e8a-9c57-2d8e4b7a1f30")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}$")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_UNSAFE_URI = re.compile(r"[\x00-\x20\x7f]")


# ---------------------------------------------------------------------------------------------
# Sanitising: the one rule for every header and target URI written or stored


def header_value(value: str) -> str:
    """A header value on one line: control characters (not tab) become spaces; bounded, stripped."""
    return _UNSAFE_VALUE.sub(" ", value)[:MAX_HEADER_VALUE].strip()


def safe_headers(pairs: Any) -> list[list[str]]:
    """HTTP headers as bounded ``[name, value]`` pairs, safe to store and to write (no injection).

    ``pairs`` may hold ``str`` or ``bytes`` (read as Latin-1, as HTTP/1.1 puts them on the wire);
    a pair whose name is not an HTTP token is dropped.
    """
    out: list[list[str]] = []
    for pair in pairs or []:
        if len(out) == MAX_HEADERS:
            break
        try:
            name, value = _text(pair[0]).strip(), _text(pair[1])
        except (IndexError, TypeError):
            continue
        if not _HEADER_NAME.match(name):
            continue
        out.append([name, header_value(value)])
    return out


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def target_uri(url: str) -> str:
    """A URL safe for a ``WARC-Target-URI`` or request line: controls, DEL and space percent-encoded."""
    return _UNSAFE_URI.sub(lambda m: f"%{ord(m.group()):02X}", url.strip())


def status_line(status: int) -> str:
    """``200 OK``: the status with its standard reason phrase (``Unknown`` for unregistered codes)."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


# ---------------------------------------------------------------------------------------------
# Writing


def warc_date(at: datetime) -> str:
    """A WARC/1.1 date: UTC, with microseconds when the time has them."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}"
    return text + "Z"


def payload_digest(payload: bytes) -> str:
    """The WARC payload digest warcio writes (SHA-1, base32)."""
    return "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode("ascii")  # noqa: S324


def response_headers(status: int, pairs: Any, protocol: str = "HTTP/1.1") -> StatusAndHeaders:
    """The HTTP block of a ``response`` or ``revisit`` record, its headers sanitised."""
    protocol = protocol if protocol.upper().startswith("HTTP/") else "HTTP/1.1"
    headers = [(name, value) for name, value in safe_headers(pairs)]
    return StatusAndHeaders(status_line(status), headers, protocol=protocol)


def request_headers(method: str, target: str, pairs: Any) -> StatusAndHeaders:
    """The HTTP block of a ``request`` record (``target``: the path and query as sent)."""
    headers = [(name, value) for name, value in safe_headers(pairs)]
    line = f"{header_value(method) or 'GET'} {target_uri(target)} HTTP/1.1"
    return StatusAndHeaders(line, headers, is_http_request=True)


def warc_fields(fields: dict[str, str]) -> bytes:
    """An ``application/warc-fields`` body (metadata records); empty values are left out."""
    lines = (f"{name}: {value}\r\n" for name, value in safe_headers(fields.items()) if value)
    return "".join(lines).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Reading


class Skip(str):
    """Why a record did not become a fetch (a counted reason, never an exception)."""


def header(pairs: list[list[str]] | None, name: str) -> str | None:
    for key, value in pairs or []:
        if key.lower() == name:
            return value
    return None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def looks_like_html(content_type: str | None, payload: bytes | None) -> bool:
    """HTML by its declared type, or by sniffing when the type is missing or generic."""
    kind = media_type(content_type)
    if kind in HTML_TYPES:
        return True
    if kind not in UNKNOWN_TYPES or not payload:
        return False
    head = payload[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


def parse_warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def digest_key(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def is_arc_file(path: Path) -> bool:
    """Whether a file is in the legacy ARC format (warcio converts ARC records to WARC ones)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 64)
        except zlib.error:
            return False
    return head.lstrip().startswith(b"filedesc:")


def record_id(rec: Any, uri: str, at: datetime, payload: bytes | None, *, arc: bool) -> str:
    """A record's WARC-Record-ID (bounded); for ARC input, a stable id derived from the capture."""
    rid = (rec.rec_headers.get_header("WARC-Record-ID") or "").strip()
    if not arc and rid:
        return rid if len(rid) <= 255 else "sha256:" + sha256_hex(rid.encode())
    # ARC has no record ids (warcio invents random ones): derive a stable one from the capture.
    key = f"{uri} {at.isoformat()} {rec.rec_type} {sha256_hex(payload or b'')}"
    return f"<urn:uuid:{uuid.uuid5(RECORD_NAMESPACE, key)}>"


def read_payload(rec: Any) -> bytes | Skip:
    """A record's payload (Content-Encoding and chunking undone), or why it cannot be used."""
    try:
        payload = rec.content_stream().read(MAX_PAYLOAD_BYTES + 1)
    except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as exc:
        return Skip(f"undecodable payload ({type(exc).__name__})")
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Skip(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    if getattr(rec.raw_stream, "limit", 0) > 0:
        return Skip("truncated record")
    return bytes(payload)


def digest_problem(rec: Any) -> Skip | str | None:
    """A Skip when the bytes are corrupt; a note when only a quirky payload digest failed."""
    problems = list(getattr(rec.digest_checker, "problems", []) or [])
    if not problems:
        return None
    if any("block" in p for p in problems) or not rec.rec_headers.get_header("WARC-Block-Digest"):
        return Skip("digest mismatch")
    # The block digest covers the payload and verified: the payload digest was computed
    # differently by the writing tool (ClueWeb, some Heritrix versions), not damage.
    return "payload digest differs, block digest verified"
