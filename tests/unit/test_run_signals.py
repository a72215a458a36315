"""A signal ends `harness run --target aws` cleanly: real `harness run` processes, real signals, moto.

Each run is the real CLI in a subprocess whose boto3 reaches a moto server on 127.0.0.1 through
``AWS_ENDPOINT_URL`` (the aws target sets no endpoint of its own, so this is the code path a user's
run takes). moto's Step Functions executions never end, which is exactly the execution that used to
hang a run forever: the run is signalled while its first executions are RUNNING and the rest queued.
Before the fix SIGTERM and SIGHUP killed the process without its teardown (the endpoint stayed), and
SIGINT waited for every queued execution (the process never exited).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from harness import ownership
from harness.embedded.process import free_port, stop_child

CONCURRENCY = 2
SIGNALS = {"us-east-1": signal.SIGTERM, "us-west-2": signal.SIGHUP, "eu-west-1": signal.SIGINT}
ROLES = ("scones-sagemaker-role", "scones-lambda-role", "scones-states-role")


@pytest.fixture
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    _reset(url)  # moto's backends are per process, shared by every server this test process starts
    # IAM is global: runs in three regions would race to create the same roles, so they exist already
    # (tagged as the harness's own, as a first run would have left them).
    iam = _client(url, "iam", "us-east-1")
    for role in ROLES:
        iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}", Tags=ownership.iam_tags())
    yield url
    _reset(url)
    server.stop()


def _reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)


def _client(url: str, service: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _harness_run(url: str, region: str, home: Path, tarball: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HARNESS_"))}
    env.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        HARNESS_TARGET="aws",
        HARNESS_REGION=region,
        HARNESS_HOME=str(home),
        HARNESS_BUCKET=f"signals-{region}",
    )
    cmd = [sys.executable, "-c", "from harness.main import main; main()", "run", "--dataset", str(tarball)]
    cmd += ["--yes", "--no-report", "--executions", "4", "--concurrency", str(CONCURRENCY), *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _executions(url: str, region: str) -> list[dict[str, Any]]:
    sfn = _client(url, "stepfunctions", region)
    machines = sfn.list_state_machines()["stateMachines"]
    if not machines:
        return []
    return sfn.list_executions(stateMachineArn=machines[0]["stateMachineArn"])["executions"]


def _wait_for_running(url: str, region: str, process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if len(_executions(url, region)) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before its executions started:\n{process.communicate()[0]}")
        time.sleep(0.2)
    pytest.fail(f"no {count} executions running in {region} after 180 s")


def test_every_ending_signal_tears_down_and_stops_the_executions(
    moto_url: str, small_tarball: Path, tmp_path: Path
) -> None:
    runs = {region: _harness_run(moto_url, region, tmp_path / region, small_tarball) for region in SIGNALS}
    try:
        for region, process in runs.items():
            _wait_for_running(moto_url, region, process, CONCURRENCY)
            assert _client(moto_url, "sagemaker", region).list_endpoints()["Endpoints"], "endpoint is up"
            process.send_signal(SIGNALS[region])
        outputs = {}
        for region, process in runs.items():
            try:
                outputs[region] = process.communicate(timeout=60)[0]
            except subprocess.TimeoutExpired:
                pytest.fail(f"{SIGNALS[region].name} did not end the run within 60 s ({region})")
    finally:
        for process in runs.values():
            if process.poll() is None:
                stop_child(process)

    for region, sig in SIGNALS.items():
        out = outputs[region]
        assert runs[region].returncode == 128 + sig, out
        assert f"interrupted by {sig.name}" in out
        assert "deleted endpoint scones-image-classifier" in out
        assert _client(moto_url, "sagemaker", region).list_endpoints()["Endpoints"] == [], region
        statuses = [e["status"] for e in _executions(moto_url, region)]
        # The two running ones were stopped; the two queued ones never started.
        assert statuses == ["ABORTED"] * CONCURRENCY, (region, statuses, out)


def test_a_second_run_on_the_same_home_waits_for_the_first_then_gives_up_naming_it(
    moto_url: str, small_tarball: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    first = _harness_run(moto_url, "us-east-1", home, small_tarball)
    try:
        _wait_for_running(moto_url, "us-east-1", first, CONCURRENCY)
        second = _harness_run(moto_url, "us-west-2", home, small_tarball, "--lock-timeout", "2")
        out = second.communicate(timeout=120)[0]
        assert second.returncode == 1, out
        assert f"another harness run (pid {first.pid}" in out and "did not finish within 2 s" in out
        # The second run created nothing: no bucket, no training job, no endpoint in its region.
        assert _client(moto_url, "sagemaker", "us-west-2").list_training_jobs()["TrainingJobSummaries"] == []
        buckets = [b["Name"] for b in _client(moto_url, "s3", "us-west-2").list_buckets()["Buckets"]]
        assert "signals-us-west-2" not in buckets
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert _client(moto_url, "sagemaker", "us-east-1").list_endpoints()["Endpoints"] == []
