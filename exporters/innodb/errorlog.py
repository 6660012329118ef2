"""Following the server's error log like `tail -F`: new lines, across rotation and truncation."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("exporters.innodb")

MAX_READ_BYTES = 8 * 1024 * 1024  # per call; the rest waits for the next scrape
# The last bytes read, checked again before reading on: a copytruncate followed by more writes
# than there were before leaves the size above our offset, but not these bytes where they were.
TAIL_BYTES = 64


@dataclass(frozen=True)
class Chunk:
    """What appeared since the last read. After `truncated`, text read before is void."""

    text: str = ""
    rotated: bool = False
    truncated: bool = False


class LogFollower:
    """Reads what was appended to `path` since the last call, complete lines only.

    Starts at the end of the file (what is there already happened before we were watching),
    unless `from_start`. Rotation (the path now names another inode) is handled by reading the old
    file to its end, then the new one from its start; truncation in place (copytruncate: the size
    dropped below our offset, or the bytes just before it changed) by starting over at 0. A file
    missing for a while is waited for.
    """

    def __init__(self, path: Path | str, *, from_start: bool = False):
        self.path = Path(path)
        self.readable = False
        self._from_start = from_start
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._tail = b""
        self._reported_missing = False

    def read(self) -> Chunk:
        rotated = truncated = False
        data = b""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            stat = None
        except OSError as exc:
            self._missing(f"cannot stat: {exc}")
            return Chunk()
        if self._file is None:
            if stat is None:
                self._missing("no such file")
                self._from_start = True  # when it appears, all of it is new
                return Chunk()
            if not self._open(at_end=not self._from_start):
                return Chunk()
            self._from_start = True  # a file that appears or comes back later is read whole
        elif stat is None:
            pass  # renamed away, the new one not created yet: drain the old file below
        elif (stat.st_dev, stat.st_ino) != self._identity:
            # The old file's last line will never be finished: end it, then start the new file.
            data = self._partial + self._file.read(MAX_READ_BYTES)
            if data and not data.endswith(b"\n"):
                data += b"\n"
            self._partial = b""
            rotated = True
            self._close()
            if not self._open(at_end=False):
                return self._chunk(data, rotated, truncated)
            log.info("error log %s was rotated; following the new file", self.path)
        elif stat.st_size < self._offset or not self._tail_still_there():
            truncated = True
            self._file.seek(0)
            self._offset = 0
            self._partial = self._tail = b""
            log.info("error log %s was truncated; reading it from the start", self.path)
        if self._file is not None:
            more = self._file.read(MAX_READ_BYTES - len(data))
            self._offset += len(more)
            self._tail = (self._tail + more)[-TAIL_BYTES:]
            data += more
        self.readable = True
        return self._chunk(data, rotated, truncated)

    def close(self) -> None:
        self._close()

    def _chunk(self, data: bytes, rotated: bool, truncated: bool) -> Chunk:
        data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        return Chunk(data[:cut].decode("utf-8", "replace"), rotated, truncated)

    def _open(self, *, at_end: bool) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - kept open across calls on purpose
        except OSError as exc:
            self._missing(f"cannot open: {exc}")
            return False
        stat = os.fstat(handle.fileno())
        self._file, self._identity = handle, (stat.st_dev, stat.st_ino)
        self._offset = stat.st_size if at_end else 0
        handle.seek(max(0, self._offset - TAIL_BYTES))
        self._tail = handle.read(self._offset - handle.tell())
        self._reported_missing = False
        return True

    def _tail_still_there(self) -> bool:
        assert self._file is not None
        if not self._tail:
            return True
        start = self._offset - len(self._tail)
        return os.pread(self._file.fileno(), len(self._tail), start) == self._tail

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _missing(self, why: str) -> None:
        self.readable = False
        if not self._reported_missing:
            log.warning("error log %s unreadable: %s", self.path, why)
            self._reported_missing = True
