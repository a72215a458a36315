"""The embedded stack's lifecycle with stand-in services (real processes, real HTTP health checks):
LocalStack is healthy before the emulator starts, logs are rotated, the user's AWS session stays out
of the emulator's environment."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.config import Settings
from harness.embedded import localstack, stack
from harness.embedded.process import free_ports, is_healthy, rotate_log, spawn, stop_child
from tests.support.wait import wait_until

# A health endpoint that answers only after a delay, like LocalStack's start-up.
SLOW_SERVER = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def test_the_emulator_starts_only_once_localstack_is_healthy(tmp_path: Path, monkeypatch) -> None:
    ls_port, sm_port = free_ports(2)
    settings = Settings(home=tmp_path / "home", localstack_port=ls_port, sagemaker_port=sm_port)
    ls_url = f"http://127.0.0.1:{ls_port}"
    spec = localstack.LaunchSpec(
        cmd=[sys.executable, "-c", SLOW_SERVER, str(ls_port), "1.5"],
        env={},
        state_dir=tmp_path / "home" / "localstack",
        url=ls_url,
        health_url=f"{ls_url}/_localstack/health",
    )
    monkeypatch.setattr(localstack, "ensure_venv", lambda settings, console=None: Path(sys.executable))
    monkeypatch.setattr(localstack, "launch_spec", lambda settings, python: spec)
    idle = threading.Thread(target=lambda: None)
    idle.start()
    monkeypatch.setattr(localstack, "prebuild_runtime", lambda settings, console: idle)
    monkeypatch.setattr(stack, "sagemaker_available", lambda: True)
    seen: list[bool] = []

    def fake_emulator(settings: Settings, url: str, log: Path, pids: Path):
        seen.append(is_healthy(spec.health_url))  # what the emulator would find when it restores state
        cmd = [sys.executable, "-c", SLOW_SERVER, str(sm_port), "0"]
        return spawn(
            "sagemaker", cmd, env={}, cwd=tmp_path, log_path=log, pid_path=pids, url=url, health_url=url
        )

    monkeypatch.setattr(stack, "_spawn_sagemaker", fake_emulator)
    try:
        statuses = stack.up(settings, timeout=30)
        assert [s.name for s in statuses] == ["localstack", "sagemaker"] and all(s.healthy for s in statuses)
        assert seen == [True], "the emulator was started before LocalStack answered its health check"
    finally:
        stack.down(settings)


def test_the_emulator_gets_no_aws_variable_of_the_user() -> None:
    settings = Settings(localstack_port=4566, sagemaker_port=4577)
    user = {
        "PATH": "/usr/bin",
        "AWS_PROFILE": "prod",
        "AWS_SESSION_TOKEN": "secret-token",
        "AWS_ACCESS_KEY_ID": "AKIAREALKEY",
        "AWS_CONFIG_FILE": "/home/u/.aws/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/home/u/.aws/credentials",
    }
    env = stack.emulator_env(settings, user)
    assert env["PATH"] == "/usr/bin"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        assert name not in env
    assert env["AWS_ACCESS_KEY_ID"] == "test" and env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


def test_a_log_past_its_limit_is_rotated_while_its_writer_keeps_appending(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nwith open(sys.argv[1], 'ab', buffering=0) as f:\n"
            "    while True:\n        f.write(b'x' * 99 + b'\\n'); time.sleep(0.02)",
            str(log),
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while (not log.exists() or log.stat().st_size < 5000) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rotate_log(log, max_bytes=4000, keep=2)
        rotated = (tmp_path / "svc.log.1").stat().st_size
        assert rotated >= 5000
        # The writer goes on at the start of the emptied file: wait until it has written there.
        wait_until(lambda: log.stat().st_size >= 500, timeout=30, what="the writer's next lines")
    finally:
        stop_child(writer)
    body = log.read_bytes()
    assert 0 < len(body) < rotated, "the writer went on at the start of the emptied file"
    assert b"\0" not in body, "no hole of NUL bytes where the old content was"
    assert not rotate_log(log, max_bytes=10**9), "a small log is left alone"
    log.write_bytes(b"y" * 5000)
    assert rotate_log(log, max_bytes=4000, keep=2)
    assert (tmp_path / "svc.log.2").exists() and (tmp_path / "svc.log.1").read_bytes() == b"y" * 5000
    assert not (tmp_path / "svc.log.3").exists()


@pytest.mark.parametrize("reset", [False, True])
def test_down_drops_the_emulator_state_and_reset_the_folders(tmp_path: Path, reset: bool) -> None:
    settings = Settings(home=tmp_path / "home")
    state = stack.emulator_state_dir(settings)
    (state / "resources").mkdir(parents=True)
    (state / "resources" / "job.json").write_text("{}")
    (stack.service_dir(settings, "localstack") / "localstack.log").parent.mkdir(parents=True)
    (stack.service_dir(settings, "localstack") / "localstack.log").write_text("log")
    said = stack.down(settings, reset=reset)
    assert not state.exists()
    assert ("sagemaker", "state dropped (LocalStack keeps none across a restart)") in said
    assert stack.service_dir(settings, "localstack").exists() is not reset
