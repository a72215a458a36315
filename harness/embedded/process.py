"""Background services the harness starts and stops: spawn with a log and a pid file, wait, stop by PID.

Both embedded services (LocalStack and the SageMaker emulator) outlive the ``harness up`` command that
starts them, so what identifies "ours" is a pid file holding the PID *and* its start time: a recycled PID
is never mistaken for our service, and nothing is ever stopped by name. Each service leads its own
process group (``start_new_session``), so its children (for example Lambda runtimes) go with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from harness.files import write_atomic

HEALTH_POLL_S = 0.05
LOG_MAX_BYTES = 10 * 1024 * 1024  # a service's log is rotated past this size ...
LOG_KEEP = 3  # ... keeping this many older copies (<name>.log.1 is the newest)


class ServiceError(RuntimeError):
    """A service could not be started, reached or stopped; the message says which and why."""


@dataclass(frozen=True)
class ServiceRecord:
    """What the pid file says about a running service."""

    name: str
    pid: int
    create_time: float  # psutil's process start time: tells our PID from a recycled one
    url: str
    health_url: str
    log_path: str

    @classmethod
    def read(cls, pid_path: Path) -> ServiceRecord | None:
        try:
            return cls(**json.loads(pid_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, pid_path: Path) -> None:
        write_atomic(pid_path, json.dumps(asdict(self), indent=2) + "\n")


def spawn(
    name: str,
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    pid_path: Path,
    url: str,
    health_url: str,
) -> ServiceRecord:
    """Start ``cmd`` detached in its own session, output appended to ``log_path``; record it in ``pid_path``.

    Detached so that the service outlives the command that started it and a Ctrl-C there does not reach it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record = ServiceRecord(
        name=name,
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        url=url,
        health_url=health_url,
        log_path=str(log_path),
    )
    record.write(pid_path)
    return record


def is_running(record: ServiceRecord) -> bool:
    """True when the recorded PID is alive, not a zombie, and is the process we started."""
    try:
        proc = psutil.Process(record.pid)
        return proc.create_time() == record.create_time and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def is_healthy(health_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(health_url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(record: ServiceRecord, timeout: float) -> float:
    """Poll the health URL until it answers 2xx; returns the seconds waited. Fails fast if the process dies.

    Failing fast matters: a service that crashed on start-up would otherwise cost the whole timeout.
    """
    started = time.monotonic()
    while True:
        if is_healthy(record.health_url, timeout=0.5):
            return time.monotonic() - started
        if not is_running(record):
            raise ServiceError(
                f"{record.name} exited before it became ready; last lines of {record.log_path}:\n"
                + log_tail(Path(record.log_path))
            )
        if time.monotonic() - started > timeout:
            raise ServiceError(
                f"{record.name} (pid {record.pid}) did not answer {record.health_url} "
                f"within {timeout:.0f} s; see {record.log_path}"
            )
        time.sleep(HEALTH_POLL_S)


def stop(record: ServiceRecord, grace: float = 10.0) -> str:
    """SIGTERM the service's process group, wait up to ``grace`` s, then SIGKILL it. Returns what happened."""
    if not is_running(record):
        if _group_is_ours(record) and _group_members(record.pid):
            _kill_group(record.pid, signal.SIGKILL)  # orphans of a leader that died on its own
            return "killed leftovers"
        return "not running"
    _kill_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not is_running(record) and not _group_members(record.pid):
            return "stopped"
        time.sleep(HEALTH_POLL_S)
    _kill_group(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and (is_running(record) or _group_members(record.pid)):
        time.sleep(HEALTH_POLL_S)
    if is_running(record):
        raise ServiceError(f"{record.name} (pid {record.pid}) survived SIGKILL")
    return "killed"


def _group_is_ours(record: ServiceRecord) -> bool:
    """Whether process group ``record.pid`` can only be ours: its leader is gone or is our zombie.

    The kernel never hands out a PID that is still some group's ID, so while our group has members
    the PID cannot have been recycled; once it is recycled, any group by that number is someone else's.
    """
    try:
        return psutil.Process(record.pid).create_time() == record.create_time
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def group_members(record: ServiceRecord) -> list[int]:
    """PIDs still alive in the service's process group (the service and anything it started)."""
    return _group_members(record.pid)


def _group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return members


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def free_port() -> int:
    """One 127.0.0.1 port that was free a moment ago."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct 127.0.0.1 ports free a moment ago (held open together, so none repeats)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def stop_child(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a child this process started itself (tests, benchmarks): SIGTERM, bounded wait, SIGKILL."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port`` (we would fail to bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def rotate_log(path: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> bool:
    """Copy ``path`` to ``path.1`` (older ones shift to ``.2`` ... ``.keep``) and empty it, when it has
    grown past ``max_bytes``. Returns whether it rotated.

    Copy-then-truncate rather than rename, because the service that writes the log may be running and
    keeps its file open: it opened the log for appending (``spawn``), so after the truncation its next
    line lands at the start of the emptied file instead of leaving a hole. Lines written between the
    copy and the truncation can be lost; a log is worth less than a disk that never fills.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except OSError:
        return False
    for index in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    with open(path, "r+b") as handle:
        handle.truncate(0)
    return True


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
