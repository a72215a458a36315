"""How a run ends early: signals become one exception, and one run at a time holds a harness home.

Python's default SIGTERM and SIGHUP kill the process on the spot, so no ``finally`` runs and an AWS
endpoint the run created keeps billing; its default SIGINT raises KeyboardInterrupt wherever the main
thread happens to be, which a thread pool's exit then turns into a wait for every queued execution.
:func:`signals_end_the_run` makes all three raise :class:`RunInterrupted` in the main thread and set a
:class:`threading.Event` that worker threads watch, so the run stops starting work at once and its
``finally`` tears down. A second signal while it tears down is reported, not obeyed: teardown is what
keeps the bill at zero, and every teardown wait has its own deadline.

:class:`RunLock` serializes ``harness run`` per home with ``flock`` (released by the kernel when the
holder dies, so a crashed run never leaves a stale lock), waiting up to a deadline for the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LOCK_POLL_S = 0.2


class RunInterrupted(BaseException):
    """A signal ended the run. A BaseException, like KeyboardInterrupt, so ``except Exception`` in a
    library (a retry loop, a phase wrapper) cannot swallow it on its way to the run's teardown."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process ended by this signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


class LockTimeout(RuntimeError):
    """Another run held the home's lock for longer than the caller would wait; names the holder."""


@contextlib.contextmanager
def signals_end_the_run(
    stop: threading.Event, log: Callable[[str], None] = lambda _m: None
) -> Iterator[Callable[[], None]]:
    """SIGINT, SIGTERM and SIGHUP set ``stop`` and raise :class:`RunInterrupted` (the first one only).

    Yields a function that turns later signals into a log line (call it before tearing down).
    Outside the main thread (a test calling ``run`` from a worker) signals cannot be handled there,
    so nothing is installed and ``stop`` only changes when the caller sets it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    tearing_down = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        already = stop.is_set()
        stop.set()
        if tearing_down or already:
            log(f"{signal.Signals(signum).name} received while tearing down: finishing the teardown first")
            return
        raise RunInterrupted(signum)

    def shield() -> None:
        nonlocal tearing_down
        tearing_down = True

    previous: dict[int, Any] = {sig: signal.signal(sig, handler) for sig in ENDING_SIGNALS}
    try:
        yield shield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class RunLock:
    """An exclusive ``flock`` on ``<home>/run.lock``; the file names the holder for the waiting side."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(
        self,
        timeout_s: float,
        stop: threading.Event | None = None,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        """Take the lock, waiting up to ``timeout_s`` for the run that holds it; fails naming that run."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held until release()
        deadline = time.monotonic() + timeout_s
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self.holder()
                who = f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}"
                if time.monotonic() >= deadline:
                    handle.close()
                    raise LockTimeout(
                        f"another harness run ({who}) holds {self.path} and did not finish within "
                        f"{timeout_s:g} s; wait for it, or stop it, or use another --home"
                    ) from None
                if not told:
                    log(f"waiting up to {timeout_s:g} s for another harness run ({who}) on this home")
                    told = True
                if stop is not None and stop.is_set():
                    handle.close()
                    raise LockTimeout(f"stopped while waiting for {self.path} ({who})") from None
                time.sleep(LOCK_POLL_S)
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        handle.write(json.dumps({"pid": os.getpid(), "started": started}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.seek(0)
            self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
