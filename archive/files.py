"""Writing a file the user named: exports, WARC exports, backups.

One rule for every command that writes where ``--output`` (or a path argument) says:

- ``-`` is standard output.
- A new path, or an existing regular file, is written to a temporary file beside it and renamed
  over it when complete: a failed or interrupted write never leaves a truncated file under the
  requested name, and a replaced file keeps its permission bits.
- A symbolic link is followed: what it points to is written (by the rules above and below); the
  link itself stays.
- Anything else that exists — a character device such as ``/dev/null`` or a terminal, a named
  pipe — is opened and written into, never replaced: renaming over it would replace the device
  node or the pipe (as root, ``--output /dev/null`` would have replaced the system's /dev/null).
- A directory, a missing parent directory, or a path that cannot be opened is one clear error
  (:class:`~archive.errors.InputError`, exit code 2).

Text written to a terminal (``-`` on a terminal, or a terminal device) has its control and
bidi-override characters escaped as every other command does (:func:`archive.textsafe.control_safe`):
an export of crawled titles must not drive the terminal. Files and pipes get the exact bytes.
Binary data (a WARC file, a database backup) is refused on a terminal.

Files a command reads (:func:`require_input_files`) are checked before any is read: a missing
file or a directory is one clear error (exit code 2), not a half-done import.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any

from archive.errors import InputError
from archive.textsafe import control_safe


class OutputKind(Enum):
    STDOUT = "stdout"
    NEW = "new"  # nothing there yet: created by rename
    REGULAR = "regular"  # an existing regular file: replaced by rename
    STREAM = "stream"  # an existing device, pipe or the like: written into, never replaced


@dataclass(frozen=True)
class OutputTarget:
    requested: str  # as the user gave it, for messages
    kind: OutputKind
    path: Path | None  # symlinks resolved; None for standard output

    @property
    def renamed(self) -> bool:
        """Whether the output is written beside the target and renamed over it."""
        return self.kind in (OutputKind.NEW, OutputKind.REGULAR)


def output_target(path: Path | str) -> OutputTarget:
    """Classify where ``path`` leads (following symlinks), or raise InputError if it cannot be written."""
    requested = str(path)
    if requested == "-":
        return OutputTarget(requested, OutputKind.STDOUT, None)
    if not requested:
        raise InputError("an empty output file name")
    real = Path(os.path.realpath(requested))
    try:
        info = os.stat(real)
    except FileNotFoundError:
        if not real.parent.is_dir():
            raise InputError(f"{requested}: no such directory {real.parent}") from None
        return OutputTarget(requested, OutputKind.NEW, real)
    except OSError as exc:  # a symlink loop, a name too long, a permission denied on the way
        raise InputError(f"{requested}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{requested}: is a directory; give a file name")
    if stat.S_ISREG(info.st_mode):
        return OutputTarget(requested, OutputKind.REGULAR, real)
    return OutputTarget(requested, OutputKind.STREAM, real)


class TerminalText(io.TextIOBase):
    """A text stream for a terminal: control and bidi characters are written as ``\\uXXXX``."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        # CSV ends its rows with CRLF; on a terminal that is just a line break.
        self.out.write(control_safe(text.replace("\r\n", "\n")))
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def _is_terminal(handle: Any) -> bool:
    try:
        return os.isatty(handle.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's captured stream)
        return False


def _for_terminal(target: OutputTarget, handle: Any, binary: bool) -> Any:
    if not _is_terminal(handle):
        return handle
    if binary:
        raise InputError(f"{target.requested}: is a terminal; redirect binary output to a file")
    return TerminalText(handle)


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def _beside(target: OutputTarget) -> Iterator[Path]:
    """A temporary file beside the target, renamed over it when the block completes."""
    assert target.path is not None
    try:
        mode = target.path.stat().st_mode & 0o7777 if target.kind is OutputKind.REGULAR else _new_file_mode()
        handle, name = tempfile.mkstemp(
            prefix=f".{target.path.name}.", suffix=".part", dir=target.path.parent
        )
        os.close(handle)
    except OSError as exc:
        raise InputError(f"{target.requested}: cannot write beside it: {exc.strerror or exc}") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, target.path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def open_output(path: Path | str, *, binary: bool = False) -> Iterator[Any]:
    """Open where the user asked the output to go (see the module's rules); yield a writable handle.

    Text handles are UTF-8 with no newline translation (CSV writes its own line ends). A write
    that fails (a full disk, a closed device) is an InputError naming the output.
    """
    target = output_target(path)
    mode = "wb" if binary else "w"
    options: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
    try:
        if target.kind is OutputKind.STDOUT:
            out = sys.stdout.buffer if binary else sys.stdout
            yield _for_terminal(target, out, binary)
            out.flush()
        elif target.kind is OutputKind.STREAM:
            assert target.path is not None
            with open(target.path, mode, **options) as handle:
                yield _for_terminal(target, handle, binary)
        else:
            with _beside(target) as tmp, open(tmp, mode, **options) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        raise InputError(f"{target.requested}: {exc.strerror or exc}") from None


@contextmanager
def staged_output(path: Path | str) -> Iterator[Path]:
    """A temporary file to fill (for writers that need a path, such as SQLite's backup), then
    delivered to ``path`` by the module's rules: renamed over a new path or a regular file,
    copied into standard output, a device or a pipe."""
    target = output_target(path)
    if target.renamed:
        with _beside(target) as tmp:
            yield tmp
        return
    handle, name = tempfile.mkstemp(prefix=".mediawatch-output.", suffix=".part")
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        with open_output(path, binary=True) as out, tmp.open("rb") as staged:
            shutil.copyfileobj(staged, out)
    finally:
        tmp.unlink(missing_ok=True)


def regular_file_path(path: Path | str) -> Path:
    """Where a file that must be a regular file (a SQLite database) lives: symlinks resolved,
    refused if something else (a device, a pipe, a directory) is there."""
    target = output_target(path)
    if target.kind is OutputKind.STDOUT or target.kind is OutputKind.STREAM or target.path is None:
        raise InputError(f"{target.requested}: not a regular file")
    return target.path


def require_input_files(paths: Iterable[Path]) -> None:
    """InputError (exit code 2) for the first of ``paths`` that does not exist or is a directory."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if path.is_dir():
            raise InputError(f"{path}: is a directory")
