"""Reliability under faults: what survives kill -9, and how fast a dead model server is replaced.

``python benchmarks/reliability.py [--only NAME ...] [--seconds 4] [--clients 16]`` (from the repo root)

Each check is one function registered with ``@check``; it returns its figures (a flat dict) and
prints readable rows. The last line of output is one JSON object with every check's figures,
``{"<check>": {...}, "cpu_count": N}``. A new check (e.g. the harness's concurrent executions
on the embedded cloud) is one more decorated function; ``--only`` runs a subset.

Emulator checks (moto's S3/Logs server + ``python -m sagemaker_emulator`` on free 127.0.0.1 ports,
the contract-following test model server of tests/unit/emulator/sagemaker_images/server.py):

* ``capture_kill9``: ``--clients`` threads invoke an endpoint capturing 100% for ``--seconds``,
  then the emulator gets SIGKILL under that load; it is started again on the same state folder
  and its spool uploaded. Lost = acknowledged invocations (answered 200) with no record in S3:
  must be 0. Duplicates are counted too.
* ``server_replacement``: under the same load, the endpoint's model server gets SIGKILL
  (``--repeats`` times). Figures: seconds from the kill to the first successful invocation that
  started after it, the emulator's own replacement time, and invocations failed in that window
  (each client calls again 10 ms after a failure, so this counts calls, not clients; requests that
  reach the dead server fail with ModelError at once, as on AWS, rather than wait).

Harness check (a fresh embedded cloud: LocalStack + the emulator, 127.0.0.1 only):

* ``concurrent_executions``: ``--executions`` (500) Step Functions executions in flight at once,
  each bounded by ``--execution-deadline``; a result is wrong when the execution failed, did not
  end, or returned inferences other than the endpoint's own answer for that image: must be 0.

Fault scenarios (issue 24: disk full, emulator killed during training, N clouds at once, LocalStack
killed during a run) live in fault_scenarios.py and register here when it is imported below.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config

from harness.embedded.process import stop_child

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "unit" / "emulator" / "sagemaker_images" / "server.py"
TRAINER = SERVER.with_name("trainer.py")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/reliability-echo:1"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}

CHECKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {}


def check(name: str) -> Callable[[Callable[[argparse.Namespace], dict[str, Any]]], Any]:
    """Register a check: a function of the parsed arguments returning its figures."""

    def register(fn: Callable[[argparse.Namespace], dict[str, Any]]) -> Any:
        CHECKS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------------------- the emulator rig
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def model_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("version.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"rel"))
    return buf.getvalue()


@dataclass
class Rig:
    """moto + one emulator process that can be killed and started again on the same state folder."""

    moto_url: str
    tmp: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    wrap: list[str] = field(default_factory=list)  # a command the emulator runs under (e.g. unshare)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str) -> None:
        imap = self.tmp / "image-map.json"
        imap.write_text(
            json.dumps(
                [
                    {
                        "image": IMAGE.replace(".", r"\."),
                        "serve": ["{python}", str(SERVER)],
                        "train": ["{python}", str(TRAINER)],
                    }
                ]
            )
        )
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        cmd = [sys.executable, "-m", "sagemaker_emulator", "--port", str(self.port)]
        cmd += ["--state-dir", str(self.tmp / "state"), "--image-map", str(imap), "--log-level", "warning"]
        log = (self.tmp / "emulator.log").open("ab")
        self.proc = subprocess.Popen(
            [*self.wrap, *cmd, *extra], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_emulator/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the emulator did not become healthy")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc, grace=30)

    def client(self, service: str, url: str | None = None) -> Any:
        cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=64)
        return boto3.client(service, endpoint_url=url or self.url, config=cfg, **CREDS)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_emulator/health", timeout=10) as resp:
            return json.loads(resp.read())

    def flush(self) -> dict[str, Any]:
        req = urllib.request.Request(self.url + "/_emulator/capture/flush", method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def deploy(
        self, name: str, bucket: str, capture_prefix: str | None = None, capture_bucket: str | None = None
    ) -> None:
        s3, sm = self.client("s3", self.moto_url), self.client("sagemaker")
        s3.put_object(Bucket=bucket, Key=f"{name}/model.tar.gz", Body=model_tar())
        sm.create_model(
            ModelName=name,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/{name}/model.tar.gz"},
            ExecutionRoleArn="arn:aws:iam::000000000000:role/reliability",
        )
        config: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        }
        if capture_prefix:
            config["DataCaptureConfig"] = {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": f"s3://{capture_bucket or bucket}/{capture_prefix}",
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
            }
        sm.create_endpoint_config(**config)
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
        )


@contextmanager
def rig() -> Iterator[tuple[Rig, str]]:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    r = Rig("http://{}:{}".format(*moto.get_host_and_port()), Path(tempfile.mkdtemp(prefix="reliability-")))
    bucket = f"reliability-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=r.moto_url, **CREDS).create_bucket(Bucket=bucket)
    try:
        yield r, bucket
    finally:
        r.stop()
        moto.stop()


@dataclass
class Load:
    """``clients`` threads invoking one endpoint until stopped; every call's start, end and outcome."""

    rig: Rig
    endpoint: str
    clients: int
    calls: list[tuple[float, float, bool, str]] = field(default_factory=list)  # (start, end, ok, id)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _worker(self) -> None:
        smr = self.rig.client("sagemaker-runtime")
        while not self._stop.is_set():
            ident = uuid.uuid4().hex
            start = time.monotonic()
            try:
                smr.invoke_endpoint(
                    EndpointName=self.endpoint,
                    Body=json.dumps({"id": ident}).encode(),
                    ContentType="application/json",
                )["Body"].read()
                ok = True
            except Exception:
                ok = False
                time.sleep(0.01)  # no busy loop against a dead emulator
            self.calls.append((start, time.monotonic(), ok, ident))

    @contextmanager
    def running(self) -> Iterator[Load]:
        threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.clients)]
        for t in threads:
            t.start()
        try:
            yield self
        finally:
            self._stop.set()
            for t in threads:
                t.join(timeout=70)


def captured_ids(rig: Rig, bucket: str, prefix: str) -> list[str]:
    s3 = rig.client("s3", rig.moto_url)
    ids = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode().splitlines():
                data = json.loads(line)["captureData"]["endpointInput"]["data"]
                ids.append(json.loads(data)["id"])
    return ids


# ---------------------------------------------------------------------------- checks
@check("capture_kill9")
def capture_kill9(args: argparse.Namespace) -> dict[str, Any]:
    with rig() as (r, bucket):
        r.start("--capture-flush-seconds", "1")
        r.deploy("capture-kill", bucket, capture_prefix="capture")
        load = Load(r, "capture-kill", args.clients)
        with load.running():
            time.sleep(args.seconds)
            killed = time.monotonic()
            r.kill9()  # under load: requests are in flight and the spool has records not yet uploaded
            time.sleep(0.5)  # the clients meet the dead emulator
        r.start("--capture-flush-seconds", "1")
        flushed = r.flush()["flushed"]
        acknowledged = {ident for _, _, ok, ident in load.calls if ok}
        ids = captured_ids(r, bucket, "capture/")
        figures = {
            "acknowledged": len(acknowledged),
            "records_in_s3": len(ids),
            "lost": len(acknowledged - set(ids)),
            "duplicates": len(ids) - len(set(ids)),
            "flushed_after_restart": flushed,
            "detected_s": round(min((c[1] for c in load.calls if not c[2]), default=killed) - killed, 3),
        }
    print(f"{'capture across kill -9 of the emulator (100% sampling)':<58}")
    for key in ("acknowledged", "records_in_s3", "lost", "duplicates", "detected_s"):
        print(f"  {key:<56}{figures[key]:>10}")
    figures["target_met"] = figures["lost"] == 0
    return figures


@check("server_replacement")
def server_replacement(args: argparse.Namespace) -> dict[str, Any]:
    recover, replaced, failed, ok_during = [], [], [], []
    with rig() as (r, bucket):
        r.start()
        r.deploy("replace", bucket)
        sm = r.client("sagemaker")
        load = Load(r, "replace", args.clients)
        with load.running():
            for _ in range(args.repeats):
                time.sleep(1.0)
                state = r.tmp / "state" / "resources" / "endpoints" / "replace.json"
                (server,) = json.loads(state.read_text())["servers"]
                before = len(r.health()["replacements"])
                killed = time.monotonic()
                os.killpg(server["pid"], signal.SIGKILL)
                deadline = killed + 60
                while time.monotonic() < deadline:
                    if (
                        len(r.health()["replacements"]) > before
                        and sm.describe_endpoint(EndpointName="replace")["EndpointStatus"] == "InService"
                    ):
                        break
                    time.sleep(0.05)
                time.sleep(0.5)  # let calls that started after the kill finish
                after = [c for c in load.calls if c[0] >= killed]
                first_ok = min((end for start, end, ok, _ in after if ok), default=float("nan"))
                recover.append(first_ok - killed)
                replaced.append(r.health()["replacements"][-1]["Seconds"])
                window = [c for c in load.calls if c[1] >= killed and c[0] <= first_ok]
                failed.append(sum(1 for c in window if not c[2]))
                ok_during.append(sum(1 for c in window if c[2]))
    figures = {
        "repeats": args.repeats,
        "kill_to_first_success_median_s": round(statistics.median(recover), 3),
        "kill_to_first_success_max_s": round(max(recover), 3),
        "replacement_median_s": round(statistics.median(replaced), 3),
        "failed_in_window_median": statistics.median(failed),
        "failed_in_window_max": max(failed),
        "clients": args.clients,
    }
    print(f"{'dead model server (kill -9) replaced under load':<58}")
    for key in ("kill_to_first_success_median_s", "kill_to_first_success_max_s", "replacement_median_s"):
        print(f"  {key:<56}{figures[key]:>10}")
    label = "invocations failed in that window (median, max)"
    print(f"  {label:<56}{figures['failed_in_window_median']:>5}{figures['failed_in_window_max']:>5}")
    return figures


# ---------------------------------------------------------------------------- harness, embedded cloud
@check("concurrent_executions")
def concurrent_executions(args: argparse.Namespace) -> dict[str, Any]:
    """``--executions`` Step Functions executions all in flight at once on a fresh embedded cloud
    (LocalStack + the emulator on free 127.0.0.1 ports), each result compared with a direct
    InvokeEndpoint of the same image made beforehand, one at a time: a response delivered to the wrong
    request, a lost one, or an execution still running at ``--execution-deadline`` is a wrong result.
    The filter's threshold is 0 so that every execution must succeed with its inferences."""
    from harness import executions
    from harness.config import load_settings
    from harness.embedded import stack
    from harness.embedded.process import free_ports
    from harness.targets.registry import target_for
    from harness.workflow import RunOptions, run

    ls_port, sm_port = free_ports(2)
    home = Path(tempfile.mkdtemp(prefix="reliability-executions-"))
    caps = {} if args.max_environments is None else {"lambda_max_environments": args.max_environments}
    settings = load_settings(environ={}).replace(
        **caps,
        target="local",
        home=home,
        localstack_port=ls_port,
        sagemaker_port=sm_port,
        threshold=0.0,
        epochs=2,
    )
    keep_home = True  # until the check has passed: its logs say why an execution failed
    try:
        setup = time.perf_counter()
        result = run(target_for(settings), RunOptions(dataset=str(args.dataset), executions=1))
        setup_s = time.perf_counter() - setup
        target = target_for(settings)
        s3, smr = target.client("s3"), target.client("sagemaker-runtime")
        pool = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=512, read_timeout=120
        )
        sfn = target.client("stepfunctions", config=pool)  # one connection per execution in flight
        images = executions.list_test_images(s3, settings.bucket, settings.data_prefix)
        reference = {}
        for key in images:
            body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
            answer = smr.invoke_endpoint(
                EndpointName=settings.endpoint_name, ContentType="image/png", Body=body
            )
            reference[key] = json.loads(answer["Body"].read())
        keys = [images[i % len(images)] for i in range(args.executions)]
        started = time.perf_counter()
        runs = executions.run_executions(
            sfn,
            result.state_machine_arn,
            settings.bucket,
            keys,
            len(keys),
            deadline_s=args.execution_deadline,
        )
        wall = time.perf_counter() - started
        wrong: dict[str, int] = {}
        causes: dict[str, str] = {}  # the first cause of each reason
        for r in runs:
            expected = reference[r.key]
            if r.status != "SUCCEEDED":
                why = r.error or r.status
            elif not r.inferences or any(
                abs(a - b) > 1e-6 for a, b in zip(r.inferences, expected, strict=True)
            ):
                why = "inferences differ from the image's own"
            else:
                continue
            wrong[why] = wrong.get(why, 0) + 1
            causes.setdefault(why, (r.cause or "")[:400])
        keep_home = bool(wrong)
    finally:
        stack.down(settings, reset=not keep_home)
        if keep_home:
            print(f"the embedded cloud's home (logs) is kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    summary = executions.summarise(runs, {})
    figures = {
        "executions": len(runs),
        "in_flight": len(keys),
        "distinct_images": len(images),
        "wrong_results": sum(wrong.values()),
        "wrong_by_reason": wrong,
        "first_cause_by_reason": causes,
        "max_environments_per_function": settings.lambda_max_environments,
        "executions_wall_s": round(wall, 2),
        "executions_per_s": round(len(runs) / wall, 1),
        "latency_ms_p50": round(summary["latency_ms_p50"], 1),
        "latency_ms_p95": round(summary["latency_ms_p95"], 1),
        "setup_s": round(setup_s, 1),
        "deadline_s": args.execution_deadline,
    }
    print(f"{'concurrent executions on the embedded cloud':<58}")
    for key in ("executions", "wrong_results", "executions_wall_s", "executions_per_s", "latency_ms_p95"):
        print(f"  {key:<56}{figures[key]:>10}")
    figures["target_met"] = figures["wrong_results"] == 0
    return figures


sys.modules.setdefault("reliability", sys.modules[__name__])  # fault_scenarios registers into CHECKS
import fault_scenarios  # noqa: E402 - after CHECKS, Rig and rig exist


def _end_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(f"reliability: interrupted by {signal.Signals(signum).name}; tearing down")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(CHECKS), help="run these checks only")
    parser.add_argument("--seconds", type=float, default=4.0, help="load before the emulator is killed")
    parser.add_argument("--clients", type=int, default=16, help="concurrent invoking threads")
    parser.add_argument("--repeats", type=int, default=3, help="model server kills")
    parser.add_argument("--executions", type=int, default=500, help="executions in flight at once")
    parser.add_argument("--execution-deadline", type=float, default=300.0, help="seconds per execution")
    parser.add_argument(
        "--max-environments",
        type=int,
        default=None,
        help="execution environments per function (the harness's lambda_max_environments; default: its own)",
    )
    mini = REPO.parent / "shared" / "data" / "cifar-100-mini.tar.gz"
    parser.add_argument("--dataset", type=Path, default=mini, help="CIFAR-100 tarball (the real mini one)")
    fault_scenarios.add_arguments(parser)
    args = parser.parse_args()
    # SIGTERM and SIGHUP kill a Python process without running a ``finally``: the checks' teardowns
    # (the embedded cloud of concurrent_executions, the emulator rigs) would be left running.
    for ending in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, _end_on_signal)
    warnings.filterwarnings("ignore")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    figures: dict[str, Any] = {}
    for name in args.only or list(CHECKS):
        figures[name] = CHECKS[name](args)
    figures["cpu_count"] = os.cpu_count()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
