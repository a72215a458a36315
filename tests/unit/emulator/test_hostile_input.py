"""Hostile and careless input: keys that climb out of their folder, oversized or slow requests,
over-long headers, leaked credentials, unsafe import paths, stray processes, host paths in errors.

Each test drives the real emulator process (or the real executor) and fails on the unfixed code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from sagemaker_emulator.executors import ProcessExecutor, RunSpec
from sagemaker_emulator.images import ImageEntry, ImageMap
from tests.unit.emulator.support import deploy, put_model, training_request, unique

FAST = {"Delay": 0.1, "MaxAttempts": 600}


def wait_job(sm: Any, name: str) -> dict[str, Any]:
    with contextlib.suppress(WaiterError):
        sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST)
    return sm.describe_training_job(TrainingJobName=name)


def model_json(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = uri[len("s3://") :].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return json.loads(member.read())


def job_request(s3: Any, bucket: str, name: str, mode: str) -> dict[str, Any]:
    """A job of the test trainer over its own data prefix (the session bucket is shared)."""
    prefix = unique("hostile")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/train/a.png", Body=b"png")
    request = training_request(name, bucket, hps={"mode": mode})
    request["InputDataConfig"] = [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/train/"}
            },
        }
    ]
    return request


def found_anywhere(root: Path, name: str) -> list[Path]:
    return [p for p in root.rglob(name)]


# ---------------------------------------------------------------- keys that leave their folder
def test_a_channel_key_with_dot_dot_is_refused_and_nothing_is_written_outside(sm, s3, bucket, emulator):
    marker = unique("escape") + ".txt"
    prefix = unique("climb")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/train/ok.png", Body=b"png")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/train/../../../../../../../{marker}", Body=b"pwned")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert any(".." in k for k in listed), f"the store normalised the key: {listed}"
    name = unique("job-climb")
    request = training_request(name, bucket)
    request["InputDataConfig"] = [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/train/"}
            },
        }
    ]
    sm.create_training_job(**request)
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: ")
    assert "../" in reason and "outside" in reason
    assert not found_anywhere(emulator.state_dir.parent, marker)
    assert str(emulator.state_dir) not in reason


def test_an_uncompressed_model_prefix_with_dot_dot_fails_the_endpoint(sm, s3, bucket, emulator):
    marker = unique("escape") + ".bin"
    prefix = unique("model-climb")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/model/version.txt", Body=b"v1")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/model/../../../../../../../../{marker}", Body=b"pwned")
    name = unique("ep-climb")
    model = unique("m-climb")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={
            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/emulator-test:latest",
            "ModelDataSource": {
                "S3DataSource": {
                    "S3Uri": f"s3://{bucket}/{prefix}/model/",
                    "S3DataType": "S3Prefix",
                    "CompressionType": "None",
                }
            },
        },
        ExecutionRoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
    )
    config = unique("c-climb")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    with pytest.raises(WaiterError):
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointStatus"] == "Failed"
    assert "../" in ep["FailureReason"] and "outside" in ep["FailureReason"]
    assert not found_anywhere(emulator.state_dir.parent, marker)
    sm.delete_endpoint(EndpointName=name)


# ---------------------------------------------------------------- FailureReason wording
def test_a_failure_that_carries_its_own_prefix_is_not_prefixed_again(sm, s3, bucket):
    name = unique("job-prefix")
    sm.create_training_job(**job_request(s3, bucket, name, "clienterror"))
    job = wait_job(sm, name)
    assert job["FailureReason"] == "ClientError: train.lst line 3: label 7 is out of range"


def test_failure_reasons_name_container_paths_not_host_paths(sm, s3, bucket, emulator):
    name = unique("job-hostpath")
    sm.create_training_job(**job_request(s3, bucket, name, "hostpath"))
    job = wait_job(sm, name)
    reason = job["FailureReason"]
    assert job["TrainingJobStatus"] == "Failed"
    assert "/opt/ml/input/data/train/missing.rec" in reason
    assert str(emulator.state_dir) not in reason and "/jobs/" not in reason


# ---------------------------------------------------------------- processes a job leaves behind
def test_a_process_the_training_job_forks_ends_with_the_job(sm, s3, bucket, emulator):
    name = unique("job-fork")
    sm.create_training_job(**job_request(s3, bucket, name, "fork"))
    job = wait_job(sm, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    log = (emulator.state_dir / "jobs" / name / "train.log").read_text()
    pid = int(log.split("forked child pid ", 1)[1].split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        if state == "Z":
            break
        time.sleep(0.05)
    alive = (
        Path(f"/proc/{pid}").exists()
        and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    )
    if alive:
        os.kill(pid, 9)
    assert not alive, "the forked child outlived its training job"


# ---------------------------------------------------------------- what children inherit
def _probe(tmp_path: Path, base_env: dict[str, str], cwd: str | None) -> dict[str, Any]:
    code = (
        "import json, os, sys; print(json.dumps({'cwd': os.getcwd(), 'path': sys.path, "
        "'token': os.environ.get('AWS_SESSION_TOKEN'), 'profile': os.environ.get('AWS_PROFILE'), "
        "'security': os.environ.get('AWS_SECURITY_TOKEN')}))"
    )
    imap = ImageMap([ImageEntry(pattern="probe", train=(sys.executable, "-c", code), serve=None, cwd=cwd)])
    opt_ml = tmp_path / "job" / "opt_ml"
    opt_ml.mkdir(parents=True)
    run = ProcessExecutor(imap, base_env=base_env).start(RunSpec("probe", "train", opt_ml, "probe"))
    out = list(run.lines())
    assert run.wait(10) == 0, out
    return json.loads(out[-1])


def test_children_never_get_the_users_session_token_or_profile(tmp_path: Path):
    env = {
        **os.environ,
        "AWS_SESSION_TOKEN": "users-real-session-token",
        "AWS_SECURITY_TOKEN": "users-real-session-token",
        "AWS_PROFILE": "users-production-profile",
    }
    seen = _probe(tmp_path, env, None)
    assert seen["token"] is None and seen["security"] is None and seen["profile"] is None


def test_children_never_import_from_a_world_writable_working_directory(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert shared.stat().st_mode & stat.S_IWOTH
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shared), os.environ.get("PYTHONPATH", "")])}
    seen = _probe(tmp_path, env, str(shared))
    assert seen["cwd"] != str(shared)
    assert str(shared) not in seen["path"] and "" not in seen["path"]


# ---------------------------------------------------------------- runtime request limits
def _raw_invoke(emulator: Any, name: str, head: bytes, body_parts: list[bytes], timeout: float = 30) -> bytes:
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
    return b"".join(chunks)


def test_the_6_mb_limit_holds_for_a_chunked_body(sm, s3, bucket, emulator):
    name = unique("ep-chunked")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    head = (
        f"POST /endpoints/{name}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * (1024 * 1024)
    # 7 MB and then nothing more (no last chunk): the answer must come from the limit, while reading,
    # not after buffering a body of any size.
    parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(7)]
    answer = _raw_invoke(emulator, name, head, parts, timeout=15)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    sm.delete_endpoint(EndpointName=name)


def test_a_request_whose_body_never_arrives_times_out(emulator_factory, s3, bucket):
    emu = emulator_factory("--body-timeout", "1")
    client = emu.client("sagemaker")
    name = unique("ep-slowloris")
    deploy(client, name, put_model(s3, bucket, "v1"))
    head = (
        f"POST /endpoints/{name}/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = _raw_invoke(emu, name, head, [b"{"], timeout=20)
    assert time.monotonic() - started < 10
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


@pytest.mark.parametrize(
    ("kwargs", "member", "limit"),
    [
        ({"CustomAttributes": "a" * 1025}, "customAttributes", 1024),
        ({"InferenceId": "i" * 65}, "inferenceId", 64),
    ],
)
def test_over_long_headers_are_refused_as_aws_does(sm, smr, s3, bucket, kwargs, member, limit):
    name = unique("ep-headers")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json", **kwargs)
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert (
        f"at '{member}' failed to satisfy constraint: Member must have length less than or equal to {limit}"
        in err["Message"]
    )
    ok = {k: v[:limit] for k, v in kwargs.items()}
    smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json", **ok)
    sm.delete_endpoint(EndpointName=name)
