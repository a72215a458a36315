"""The embedded cloud comes back whole or empty, never half: real `harness up`/`down`, real kill -9.

LocalStack Community keeps nothing across a restart (checked: not even with PERSISTENCE=1), so the
emulator's resources must go whenever LocalStack's do; they may only survive when the emulator alone
went away. Before this was enforced, `down` + `up` left the emulator remembering a Completed training
job whose model.tar.gz was gone, and every later run reused it and failed. This test starts its own
stack (own home and ports) next to the session one, because it kills and restarts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings, load_settings
from harness.embedded.process import ServiceRecord, free_ports
from harness.embedded.stack import emulator_state_dir, pid_path, service_dir
from harness.model import builtin_image_uri
from harness.targets.registry import target_for

pytestmark = pytest.mark.e2e

LEAKY = {"AWS_SESSION_TOKEN": "users-session-token", "AWS_PROFILE": "users-real-profile"}


def _harness(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "AWS_"))}
    env.update(
        LEAKY,  # a user's real-AWS session: must never reach the emulator
        HARNESS_HOME=str(settings.home),
        HARNESS_TARGET="local",
        HARNESS_LOCALSTACK_PORT=str(settings.localstack_port),
        HARNESS_SAGEMAKER_PORT=str(settings.sagemaker_port),
    )
    result = subprocess.run(
        [sys.executable, "-c", "from harness.main import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def _record(settings: Settings, name: str) -> ServiceRecord:
    record = ServiceRecord.read(pid_path(settings, name))
    assert record is not None, f"{name} has no pid file"
    return record


def _cloud(settings: Settings, bucket: str) -> dict[str, Any]:
    """What the cloud holds now: the bucket's keys in LocalStack, the model names in the emulator."""
    target = target_for(settings)
    s3, sm = target.client("s3"), target.client("sagemaker")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    keys = []
    if bucket in buckets:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {"keys": keys, "models": [m["ModelName"] for m in sm.list_models()["Models"]]}


def _populate(settings: Settings, bucket: str) -> None:
    target = target_for(settings)
    s3, sm = target.client("s3"), target.client("sagemaker")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/job/output/model.tar.gz", Body=os.urandom(600 * 1024))
    sm.create_model(
        ModelName="restart-model",
        PrimaryContainer={
            "Image": builtin_image_uri(settings.region),
            "ModelDataUrl": f"s3://{bucket}/models/job/output/model.tar.gz",
        },
        ExecutionRoleArn="arn:aws:iam::000000000000:role/scones-sagemaker-role",
    )


def test_restarts_keep_the_cloud_whole_or_drop_it_whole(tmp_path: Path) -> None:
    ports = free_ports(2)
    settings = load_settings(environ={}).replace(
        target="local", home=tmp_path / "home", localstack_port=ports[0], sagemaker_port=ports[1]
    )
    bucket = f"restart-{uuid.uuid4().hex[:8]}"
    whole = {"keys": ["models/job/output/model.tar.gz"], "models": ["restart-model"]}
    empty: dict[str, Any] = {"keys": [], "models": []}
    _harness(settings, "up")
    try:
        emulator = _record(settings, "sagemaker")
        environ = Path(f"/proc/{emulator.pid}/environ").read_bytes().split(b"\0")
        leaked = [v.split(b"=")[0].decode() for v in environ if v.split(b"=")[0].decode() in LEAKY]
        assert leaked == [], "the user's AWS session reached the emulator"

        _populate(settings, bucket)
        assert _cloud(settings, bucket) == whole
        # S3 spilled the 600 KB object into this home, not into the machine-wide /tmp folder.
        assert (service_dir(settings, "localstack") / "s3-storage" / bucket).is_dir()
        assert not Path("/tmp/localstack-s3-storage", bucket).exists()

        # Only the emulator dies: LocalStack still has the data, so the emulator restores its state.
        os.kill(emulator.pid, signal.SIGKILL)
        _harness(settings, "up")
        assert _record(settings, "sagemaker").pid != emulator.pid
        assert _cloud(settings, bucket) == whole

        # LocalStack dies: its S3 is gone, so the (still running) emulator's state must go as well.
        os.kill(_record(settings, "localstack").pid, signal.SIGKILL)
        running_emulator = _record(settings, "sagemaker").pid
        _harness(settings, "up")
        assert _record(settings, "sagemaker").pid != running_emulator
        assert _cloud(settings, bucket) == empty

        # down + up: an empty cloud, and down says the emulator's state went with LocalStack's.
        _populate(settings, bucket)
        stopped = _harness(settings, "down")
        assert "state dropped" in stopped.stderr
        assert not emulator_state_dir(settings).exists()
        _harness(settings, "up")
        assert _cloud(settings, bucket) == empty
    finally:
        reset = _harness(settings, "down", "--reset")
    assert "reset" in reset.stderr
    assert not any(service_dir(settings, name).exists() for name in ("localstack", "sagemaker"))
