"""Stopping child processes by the PID the emulator started them with (bounded wait, then SIGKILL).

Children run in their own session, so the PID is also their process-group id and a model server
that forks workers is stopped as a whole. A PID is only ever signalled when its start time still
matches the one recorded at spawn, so a recycled PID is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux ``/proc``), ``None`` when unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def alive(pid: int, started: str | None = None) -> bool:
    if started is not None:
        return start_time(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def kill_group(pid: int) -> None:
    """SIGKILL what is left of the process group ``pid`` led (its leader has already exited)."""
    _signal_group(pid, signal.SIGKILL)


def stop_popen(proc: subprocess.Popen, grace: float) -> int | None:
    """SIGTERM the child's group, wait up to ``grace`` seconds, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    else:
        _signal_group(proc.pid, signal.SIGKILL)  # leftovers of the group, if any
    return proc.returncode


def stop_stale(pid: int, started: str | None, grace: float = 5.0) -> bool:
    """Stop a child left behind by an earlier run of the emulator; only if it is still that process."""
    if started is None or not alive(pid, started):
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid, started):
            return True
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    return True
