"""Faults with real processes: kill -9 of a model server, kill -9 of the emulator under capture load."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.emulator.support import capture_config, capture_records, deploy, put_model, unique

FAST = {"Delay": 0.1, "MaxAttempts": 300}


def server_pid(state_dir: Path, endpoint: str) -> int:
    record = json.loads((state_dir / "resources" / "endpoints" / f"{endpoint}.json").read_text())
    (server,) = record["servers"]
    return server["pid"]


def test_a_killed_model_server_is_replaced_and_in_flight_requests_get_model_error(
    sm, smr, s3, bucket, logs, emulator, tmp_path: Path
):
    name = unique("ep-kill")
    arrived = tmp_path / "arrived"
    deploy(sm, name, put_model(s3, bucket, "v1"), env={"SERVER_DELAY": "1.5", "SERVER_ARRIVED": str(arrived)})
    pid = server_pid(emulator.state_dir, name)
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(
            smr.invoke_endpoint, EndpointName=name, Body=b"{}", ContentType="application/json"
        )
        deadline = time.monotonic() + 30
        while not arrived.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert arrived.exists(), "the request never reached the model server"
        os.killpg(pid, signal.SIGKILL)  # the request is now waiting inside the model server (SERVER_DELAY)
        with pytest.raises(ClientError) as info:
            in_flight.result(timeout=30)
    err = info.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["Error"]["Message"].startswith("Received server error (0) from primary with message")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ep = sm.describe_endpoint(EndpointName=name)
        if ep["EndpointStatus"] == "InService" and server_pid(emulator.state_dir, name) != pid:
            break
        time.sleep(0.1)
    assert ep["EndpointStatus"] == "InService"
    new_pid = server_pid(emulator.state_dir, name)
    assert new_pid != pid
    resp = smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    assert json.loads(resp["Body"].read())["model"] == "v1"

    with urllib.request.urlopen(emulator.url + "/_emulator/health") as resp:
        health = json.loads(resp.read())
    mine = [r for r in health["replacements"] if r["EndpointName"] == name]
    assert mine and mine[-1]["Outcome"] == "replaced" and "exited with code -9" in mine[-1]["Reason"]
    deadline = time.monotonic() + 10
    messages: list[str] = []
    while time.monotonic() < deadline and not any("Replacing an unhealthy instance" in m for m in messages):
        streams = logs.describe_log_streams(logGroupName=f"/aws/sagemaker/Endpoints/{name}")["logStreams"]
        messages = [
            e["message"]
            for s in streams
            for e in logs.get_log_events(
                logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName=s["logStreamName"]
            )["events"]
        ]
        time.sleep(0.2)
    assert any("Replacing an unhealthy instance of production variant AllTraffic" in m for m in messages)
    sm.delete_endpoint(EndpointName=name)


def test_no_acknowledged_capture_record_is_lost_to_kill_9_of_the_emulator(emulator_factory, s3, bucket):
    emu = emulator_factory("--capture-flush-seconds", "3600")  # nothing reaches S3 before the kill
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name, prefix = unique("cap-kill"), unique("capture")
    deploy(client, name, put_model(s3, bucket, "v1"), capture=capture_config(bucket, prefix))
    acknowledged: list[str] = []

    def call(i: int) -> None:
        runtime.invoke_endpoint(
            EndpointName=name, Body=json.dumps({"i": i}).encode(), ContentType="application/json"
        )
        acknowledged.append(str(i))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(call, range(120)))
    assert len(acknowledged) == 120
    emu.stop(signal.SIGKILL)
    emu.start()
    assert emu.flush_capture()["flushed"] is True
    records = capture_records(s3, bucket, prefix + "/")
    seen = sorted(json.loads(r["endpointInput"])["i"] for _, r in records)
    assert seen == list(range(120))  # every acknowledged record, once
    emu.client("sagemaker").delete_endpoint(EndpointName=name)


def test_capture_batches_s3_refuses_are_retried_while_running(emulator_factory, s3, bucket):
    emu = emulator_factory("--capture-flush-seconds", "0.2")
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name, target = unique("cap-retry"), unique("capture-late")
    deploy(
        client,
        name,
        put_model(s3, bucket, "v1"),
        capture={**capture_config(bucket, "x"), "DestinationS3Uri": f"s3://{target}/captures"},
    )
    for i in range(5):
        runtime.invoke_endpoint(EndpointName=name, Body=str(i).encode(), ContentType="text/plain")
    time.sleep(0.6)  # a few upload rounds fail: the bucket does not exist yet
    s3.create_bucket(Bucket=target)
    deadline = time.monotonic() + 20
    records: list[Any] = []
    while time.monotonic() < deadline and len(records) < 5:
        records = capture_records(s3, target, "captures/")
        time.sleep(0.2)
    assert len(records) == 5  # uploaded by the running emulator, without a restart
    client.delete_endpoint(EndpointName=name)
