"""The background-service helper with real child processes: spawn, health, stop by PID, stale records."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from harness.embedded.process import (
    ServiceError,
    ServiceRecord,
    free_port,
    is_running,
    port_in_use,
    spawn,
    stop,
    wait_healthy,
)
from tests.support.wait import file_contains, wait_until

# A server that ignores SIGTERM, so stop() must fall back to SIGKILL.
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
time.sleep(60)
"""


def _spawn(tmp_path: Path, cmd: list[str], port: int) -> ServiceRecord:
    url = f"http://127.0.0.1:{port}"
    return spawn(
        "demo",
        cmd,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        log_path=tmp_path / "demo.log",
        pid_path=tmp_path / "demo.pid.json",
        url=url,
        health_url=f"{url}/",
    )


def test_spawn_wait_and_stop_by_pid(tmp_path: Path) -> None:
    port = free_port()
    record = _spawn(tmp_path, [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], port)

    assert ServiceRecord.read(tmp_path / "demo.pid.json") == record
    wait_healthy(record, timeout=20)
    assert is_running(record) and port_in_use("127.0.0.1", port)
    assert psutil.Process(record.pid).status() != psutil.STATUS_ZOMBIE

    assert stop(record, grace=10) == "stopped"
    assert not is_running(record)  # gone, or a zombie: pytest is its parent here and never reaps it
    assert stop(record) == "not running"


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    record = _spawn(tmp_path, [sys.executable, "-c", STUBBORN], free_port())
    wait_until(file_contains(tmp_path / "demo.log", "ignoring"), timeout=20, what="the SIGTERM handler")

    assert stop(record, grace=0.5) == "killed"
    assert not is_running(record)


def test_a_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    record = _spawn(tmp_path, [sys.executable, "-c", "import time; time.sleep(30)"], free_port())
    try:
        impostor = replace(record, create_time=record.create_time - 100)
        assert not is_running(impostor)
        assert stop(impostor) == "not running" and is_running(record), (
            "never stops a process it did not start"
        )
    finally:
        stop(record, grace=2)


def test_a_process_that_dies_early_reports_its_log(tmp_path: Path) -> None:
    record = _spawn(
        tmp_path, [sys.executable, "-c", "print('port busy, giving up'); raise SystemExit(3)"], free_port()
    )

    with pytest.raises(ServiceError, match=r"(?s)exited before it became ready.*port busy, giving up"):
        wait_healthy(record, timeout=20)


def test_unreadable_pid_file_means_no_record(tmp_path: Path) -> None:
    (tmp_path / "demo.pid.json").write_text("{not json")
    assert ServiceRecord.read(tmp_path / "demo.pid.json") is None
    assert ServiceRecord.read(tmp_path / "missing.json") is None
