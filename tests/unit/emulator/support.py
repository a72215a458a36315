"""Helpers for the SageMaker emulator tests (the fixtures are in conftest.py beside this file).

The emulator runs as ``python -m sagemaker_emulator`` in a subprocess (what ``harness up``
starts), with an image map that sends the test images to the tiny contract-following scripts in
``tests/unit/emulator/sagemaker_images/``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore.config

from harness.embedded.process import free_port
from sagemaker_emulator.images import BUILTIN_IMAGE_CLASSIFICATION

REPO = Path(__file__).resolve().parents[2]
IMAGES = Path(__file__).resolve().parent / "sagemaker_images"
TEST_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/emulator-test:latest"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": REGION}


def image_map(tmp: Path) -> Path:
    path = tmp / "image-map.json"
    entries = [
        {
            "image": r"123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/emulator-test(:.*)?",
            "train": ["{python}", str(IMAGES / "trainer.py")],
            "serve": ["{python}", str(IMAGES / "server.py")],
        },
        {"image": BUILTIN_IMAGE_CLASSIFICATION, "train": ["{python}", str(IMAGES / "trainer.py")]},
        {
            "image": r"123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com/train-only(:.*)?",
            "train": ["{python}", "-c", "0"],
        },
    ]
    path.write_text(json.dumps(entries))
    return path


class Emulator:
    """One emulator process; ``restart()`` keeps the state folder."""

    def __init__(self, state_dir: Path, moto_url: str, imap: Path, *extra: str, wrap: Sequence[str] = ()):
        self.state_dir, self.moto_url, self.imap, self.extra = state_dir, moto_url, imap, extra
        self.wrap = list(wrap)  # a command the emulator's runs under (it must exec its arguments)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = state_dir.parent / f"emulator-{self.port}.log"

    def start(self) -> Emulator:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
        }
        env.pop("AWS_ENDPOINT_URL_SAGEMAKER", None)
        cmd = [
            sys.executable,
            "-m",
            "sagemaker_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        cmd += ["--state-dir", str(self.state_dir), "--image-map", str(self.imap), "--log-level", "warning"]
        cmd = self.wrap + cmd + list(self.extra)
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_emulator/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("emulator did not become healthy")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def restart(self) -> Emulator:
        self.stop()
        return self.start()

    def flush_capture(self) -> dict[str, Any]:
        req = urllib.request.Request(self.url + "/_emulator/capture/flush", method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def client(self, service: str) -> Any:
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=32
        )
        return boto3.client(service, endpoint_url=self.url, config=config, **CREDS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def model_tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_model(s3: Any, bucket: str, version: str) -> str:
    key = f"models/{version}-{uuid.uuid4().hex[:6]}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=model_tar({"version.txt": version}))
    return f"s3://{bucket}/{key}"


def deploy(
    sm: Any,
    name: str,
    model_url: str | None,
    *,
    capture: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    image: str = TEST_IMAGE,
    wait: bool = True,
    variants: list[tuple[str, float]] | None = None,
) -> str:
    """CreateModel + CreateEndpointConfig + CreateEndpoint (+ InService waiter); returns the config name."""
    container: dict[str, Any] = {"Image": image, "Environment": env or {}}
    if model_url:
        container["ModelDataUrl"] = model_url
    model = unique(f"{name}-model")
    sm.create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    config = unique(f"{name}-config")
    pvs = [
        {
            "VariantName": v,
            "ModelName": model,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": w,
        }
        for v, w in (variants or [("AllTraffic", 1.0)])
    ]
    kwargs: dict[str, Any] = {"EndpointConfigName": config, "ProductionVariants": pvs}
    if capture is not None:
        kwargs["DataCaptureConfig"] = capture
    sm.create_endpoint_config(**kwargs)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    if wait:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )
    return config


def training_request(
    name: str, bucket: str, *, hps: dict[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": TEST_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": hps or {},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/train/"}
                },
                "ContentType": "application/x-image",
            },
            {
                "ChannelName": "train_lst",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/train.lst"}
                },
                "ContentType": "application/x-image",
            },
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(overrides)
    return request


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def read_capture_line(line: str) -> dict[str, Any]:
    """A reader for capture records that accepts exactly what AWS writes."""
    record = json.loads(line)
    assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
    assert record["eventVersion"] == "0"
    out: dict[str, Any] = {"time": record["eventMetadata"]["inferenceTime"]}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", out["time"])
    for side, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
        part = record["captureData"].get(side)
        if part is None:
            continue
        assert set(part) == {"observedContentType", "mode", "data", "encoding"}
        assert part["mode"] == mode
        data = part["data"]
        out[side] = base64.b64decode(data) if part["encoding"] == "BASE64" else data.encode()
        out[side + "Encoding"] = part["encoding"]
    out["meta"] = record["eventMetadata"]
    return out


def capture_records(s3: Any, bucket: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            text = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
            out += [(obj["Key"], read_capture_line(line)) for line in text.splitlines()]
    return out


def capture_config(
    bucket: str, prefix: str, pct: int = 100, modes=("Input", "Output"), **extra
) -> dict[str, Any]:
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": pct,
        "DestinationS3Uri": f"s3://{bucket}/{prefix}",
        "CaptureOptions": [{"CaptureMode": m} for m in modes],
        **extra,
    }
