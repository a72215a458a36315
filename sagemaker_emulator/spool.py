"""The capture spool's request-path half: whole lines on disk, else held in memory, else counted as dropped.

On AWS a data-capture problem never fails an inference; capture is best effort. So :meth:`Spool.append`
never raises. A line goes to the active segment with writes that are checked to the last byte: a write
that fails or stops short (``ENOSPC``, ``EDQUOT``, ``EIO``) is cut back off the file (``ftruncate`` to
where the line started), so a segment never holds a torn line that a later line would be glued to. A
line that cannot be written, or that would take the spool past ``max_bytes`` (S3 unreachable for long),
is held in memory, oldest first, and moved to disk (or uploaded from memory by the writer thread) when
it can be; only past ``max_held_bytes`` is a line dropped, and then it is counted (``dropped``) and
logged, never lost silently. A held line does not survive ``kill -9``; a spooled one does.

Reading side: :func:`complete_lines` keeps only newline-terminated lines, so even a tail that could not
be cut off (the ``ftruncate`` failed too, and the segment was closed) is never read as a record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # on disk: about 250k records of 1 KB while S3 is away
DEFAULT_MAX_HELD_BYTES = 64 * 1024 * 1024  # in memory, when the disk refuses or the spool is full
SEGMENT_BYTES = 8 * 1024 * 1024  # an active segment this large wakes the writer early (back-pressure)


_write = os.write  # the one call a fault-injection test replaces (never os.write for the whole process)


def complete_lines(raw: bytes) -> list[bytes]:
    """The newline-terminated lines of a segment; an unterminated tail is a write that did not finish."""
    lines = raw.split(b"\n")
    lines.pop()  # after the last newline: empty, or a torn tail
    return [line for line in lines if line]


class Spool:
    """Append-only segments ``<folder>/<ns>-<id>.jsonl`` plus an in-memory backlog; thread-safe."""

    def __init__(
        self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES, max_held_bytes: int = DEFAULT_MAX_HELD_BYTES
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_held_bytes = max_bytes, max_held_bytes
        self.lock = threading.Lock()
        self.active: Path | None = None
        self.active_bytes = 0
        self._fd: int | None = None
        self.held: deque[bytes] = deque()
        self.held_bytes = 0
        self.dropped = 0
        self.write_failures = 0
        self.last_error: str | None = None
        self.spooled_bytes = 0
        self.refresh()

    # -- request path ---------------------------------------------------------------------------------
    def append(self, line: bytes) -> bool:
        """Spool ``line`` (one record, newline-terminated); False only when it had to be dropped."""
        with self.lock:
            self._drain_locked()
            if not self.held and self._write_locked(line):
                return True
            return self._hold_locked(line)

    def _write_locked(self, line: bytes) -> bool:
        if self.spooled_bytes + len(line) > self.max_bytes:
            self._note(f"spool at its cap of {self.max_bytes} bytes")
            return False
        start: int | None = None
        try:
            if self._fd is None:
                self.active = self.folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.jsonl"
                self._fd = os.open(self.active, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self.active_bytes = 0
            start = os.fstat(self._fd).st_size  # O_APPEND: the line lands at the end
            view, done = memoryview(line), 0
            while done < len(line):
                written = _write(self._fd, view[done:])
                if written <= 0:
                    raise OSError(f"short write: {done} of {len(line)} bytes")
                done += written
        except OSError as exc:
            self.write_failures += 1
            self._note(f"spool write failed: {exc}")
            if start is not None:
                self._cut_locked(start)
            return False
        self.spooled_bytes += len(line)
        self.active_bytes += len(line)
        return True

    def _cut_locked(self, start: int) -> None:
        """Remove a partly written line; if even that fails, end the segment (its tail is never read)."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, start)
        except OSError as exc:
            log.warning(
                "capture spool: cannot cut a partial line from %s (%s); segment closed", self.active, exc
            )
            self._close_locked()

    def _hold_locked(self, line: bytes) -> bool:
        if self.held_bytes + len(line) > self.max_held_bytes:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.error(
                    "capture record dropped (%d so far): %s and %d bytes already held in memory",
                    self.dropped,
                    self.last_error,
                    self.held_bytes,
                )
            return False
        self.held.append(line)
        self.held_bytes += len(line)
        return True

    def _drain_locked(self) -> None:
        """Move held lines to disk, oldest first, while the disk takes them."""
        while self.held and self._write_locked(self.held[0]):
            self.held_bytes -= len(self.held.popleft())

    def _note(self, error: str) -> None:
        if error != self.last_error:
            log.warning("capture spool %s: %s; records are held in memory", self.folder, error)
        self.last_error = error

    # -- writer thread --------------------------------------------------------------------------------
    def drain(self) -> None:
        with self.lock:
            self._drain_locked()

    def rotate(self) -> None:
        """Close the active segment so the writer may upload it."""
        with self.lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd, self.active, self.active_bytes = None, None, 0

    def take_held(self) -> list[bytes]:
        """Every held line, removed from the backlog (give back what could not be uploaded)."""
        with self.lock:
            lines = list(self.held)
            self.held.clear()
            self.held_bytes = 0
            return lines

    def give_back(self, lines: list[bytes]) -> None:
        with self.lock:
            for line in reversed(lines):
                self.held.appendleft(line)
                self.held_bytes += len(line)

    def refresh(self) -> None:
        """Recount the bytes on disk (segments uploaded and deleted free their share of the cap)."""
        with self.lock:
            total = 0
            for path in self.folder.glob("*.jsonl"):
                try:
                    total += path.stat().st_size
                except OSError:
                    continue
            self.spooled_bytes = total
            if self.last_error and not self.held:
                self.last_error = None
