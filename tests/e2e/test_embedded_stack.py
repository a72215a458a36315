"""``harness up`` / ``status`` / ``down`` through the real CLI, on a stack of the test's own.

This test starts a second embedded cloud (own ports, own home) next to the session one, because it
must watch ``down`` remove every process, Lambda runtimes included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.config import load_settings
from harness.embedded.process import ServiceRecord, free_ports, group_members
from harness.embedded.stack import pid_path
from harness.targets.registry import target_for
from tests.support.lambda_zip import deploy

pytestmark = pytest.mark.e2e

HELLO = """
def handler(event, context):
    return {"hello": event["name"]}
"""


def _harness(home: Path, ports: list[int], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(
        HARNESS_HOME=str(home),
        HARNESS_TARGET="local",
        HARNESS_LOCALSTACK_PORT=str(ports[0]),
        HARNESS_SAGEMAKER_PORT=str(ports[1]),
    )
    return subprocess.run(
        # The console script's entry point (harness.main:main), as `harness` itself calls it.
        [sys.executable, "-c", "from harness.main import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _services(home: Path, ports: list[int]) -> dict[str, dict[str, Any]]:
    result = _harness(home, ports, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["services"]}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_up_status_reuse_conflict_and_down(tmp_path: Path) -> None:
    home, ports = tmp_path / "home", free_ports(2)
    started = _harness(home, ports, "up")
    assert started.returncode == 0, started.stderr
    try:
        services = _services(home, ports)
        ls = services["localstack"]
        assert ls["running"] and ls["healthy"] and ls["url"] == f"http://127.0.0.1:{ports[0]}"
        listening = {
            c.laddr.ip
            for c in psutil.Process(ls["pid"]).net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}, "LocalStack listens on the loopback interface only"

        again = _harness(home, ports, "up")
        assert again.returncode == 0 and "reused" in again.stderr
        assert _services(home, ports)["localstack"]["pid"] == ls["pid"]

        clash = _harness(tmp_path / "other-home", ports, "up")
        assert clash.returncode == 1
        assert f"port {ports[0]} on 127.0.0.1 is already in use" in clash.stderr

        settings = load_settings(environ={}).replace(
            home=home, localstack_port=ports[0], sagemaker_port=ports[1]
        )
        lam = target_for(settings).client("lambda")
        name = deploy(lam, HELLO, prefix="hello")
        assert json.loads(lam.invoke(FunctionName=name, Payload=b'{"name": "scone"}')["Payload"].read()) == {
            "hello": "scone"
        }
        record = ServiceRecord.read(pid_path(settings, "localstack"))
        assert record is not None
        pids = set(group_members(record))
        assert len(pids) >= 2, "LocalStack and at least one Lambda runtime process"
        pids |= {row["pid"] for row in services.values() if row["pid"]}
    finally:
        stopped = _harness(home, ports, "down")

    assert stopped.returncode == 0, stopped.stderr
    assert [pid for pid in pids if _alive(pid)] == []
    assert not any(row["running"] for row in _services(home, ports).values())
    assert not pid_path(settings, "localstack").exists()
