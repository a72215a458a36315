"""LocalStack killed during `harness run`'s executions (issue 24): the run exits non-zero within seconds
naming LocalStack, its pid and its log, with no frozen progress bar; the next `harness up` and `run` work.

Its own embedded cloud (own home, own ports): the test kills it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.embedded.process import free_ports
from tests.support.cifar import separable_batch, write_tarball

pytestmark = pytest.mark.e2e


def _env(home: Path) -> dict[str, str]:
    ls, sm = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "AWS_"))}
    return {
        **env,
        "HARNESS_HOME": str(home),
        "HARNESS_CACHE_DIR": os.environ.get("HARNESS_CACHE_DIR", ""),
        "HARNESS_LOCALSTACK_PORT": str(ls),
        "HARNESS_SAGEMAKER_PORT": str(sm),
        "HARNESS_BUCKET": "dead-deps",
        "HARNESS_EPOCHS": "2",
        "HARNESS_MINI_BATCH_SIZE": "16",
        "HARNESS_THRESHOLD": "0.5",
        "HARNESS_LAMBDA_MAX_ENVIRONMENTS": "2",
    }


def _harness(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("harness"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_localstack_killed_during_executions_is_named_within_seconds(tmp_path: Path) -> None:
    env = {k: v for k, v in _env(tmp_path / "home").items() if v != ""}
    tarball = write_tarball(
        tmp_path / "tiny.tar.gz",
        train=separable_batch(16, "train", seed=1),
        test=separable_batch(8, "test", seed=2),
    )
    try:
        first = _harness(env, "run", "--dataset", str(tarball), "--no-report")
        assert first.returncode == 0, first.stderr[-3000:]
        # Every inference now takes 2 s, so the executions are still running when LocalStack dies.
        slow = _harness(env, "faults", "endpoint", "--endpoint", "*", "--latency-ms", "2000")
        assert slow.returncode == 0, slow.stderr

        exe = str(Path(sys.executable).with_name("harness"))
        run = subprocess.Popen(
            [exe, "run", "--no-report", "--concurrency", "2"], env=env, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        in_executions = threading.Event()

        def read() -> None:
            for line in run.stderr:  # type: ignore[union-attr]
                lines.append(line)
                if "executions" in line and "▶" in line:
                    in_executions.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert in_executions.wait(300), "".join(lines)[-3000:]
        time.sleep(1.0)
        record = json.loads((tmp_path / "home" / "localstack" / "localstack.pid.json").read_text())
        os.killpg(record["pid"], signal.SIGKILL)
        killed = time.monotonic()
        run.wait(timeout=60)
        took = time.monotonic() - killed
        reader.join(timeout=5)
        output = "".join(lines)
        assert run.returncode != 0, output[-3000:]
        assert took < 10, f"noticed after {took:.1f} s"
        assert f"LocalStack (pid {record['pid']}) exited: see" in output, output[-3000:]

        # The next `harness up` and `run` work (the emulator kept its faults: clear them first).
        assert _harness(env, "faults", "clear").returncode == 0
        again = _harness(env, "run", "--dataset", str(tarball), "--no-report", "--json")
        assert again.returncode == 0, again.stderr[-3000:]
        assert json.loads(again.stdout.strip().splitlines()[-1])["executions"] == 16
    finally:
        _harness(env, "down", timeout=120)
