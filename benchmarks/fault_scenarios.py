"""Fault scenarios of ``benchmarks/reliability.py`` (issue 24): each prints acknowledged / lost /
duplicated / time to detect, as far as the fault has them, and returns those figures for the JSON line.

Registered into reliability.py's ``@check`` registry when reliability.py imports this module; run them
with ``python benchmarks/reliability.py --only disk_full emulator_killed_training clouds_at_once
localstack_killed``. The emulator killed during invocations is reliability.py's own ``capture_kill9``.

* ``disk_full``: the emulator's capture spool sits on a 64 KiB tmpfs in a private mount namespace (root
  and ``unshare(1)`` needed, else the check says so and reports ``skipped``); the capture bucket is
  missing, so the spool grows until the filesystem is full; ``--invocations`` invocations are made while
  it is full, then the bucket is created (space returns as the spool drains). Figures: acknowledged,
  failed (every failure is capture's: must be 0), lost (0), duplicated, torn lines (0).
* ``emulator_killed_training``: a training job (the test trainer, ``mode=sleep``) runs; the emulator
  gets SIGKILL. The trainer survives its parent (its own session); the emulator is started again on the
  same state folder. Figures: detected_s (kill to the job described Failed, "the emulator stopped while
  this job ran"), orphans_left (the trainer still alive after the restart: must be 0).
* ``clouds_at_once``: ``--clouds`` LocalStacks (own homes, own ports) started at the same moment,
  ``--tries`` times. Figures: started, healthy (must equal started), seconds to healthy.
* ``localstack_killed``: ``harness run`` on a tiny generated dataset with 2 s of endpoint latency, so
  executions are in flight; LocalStack's process group gets SIGKILL. Figures: seconds until ``harness
  run`` exits (time to detect), whether its output names LocalStack, and whether the next ``harness run``
  (which brings the cloud up again) recovered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from reliability import IMAGE, REPO, Rig, check, rig

from harness.config import load_settings
from harness.embedded import localstack
from harness.embedded.process import ServiceError, ServiceRecord, free_ports, spawn, stop, wait_healthy

sys.path.insert(0, str(REPO))  # tests.support: the generated CIFAR tarball
from tests.support.cifar import separable_batch, write_tarball

STOPPED_REASON = "the emulator stopped while this job ran"


def _row(label: str, value: Any) -> None:
    print(f"  {label:<56}{value!s:>10}")


def _s3_lines(r: Rig, bucket: str, prefix: str) -> tuple[list[str], int]:
    """The invocation ids in every capture line under ``prefix``, and the lines that do not parse (torn)."""
    s3 = r.client("s3", r.moto_url)
    ids, torn = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode().splitlines():
                try:
                    ids.append(json.loads(json.loads(line)["captureData"]["endpointInput"]["data"])["id"])
                except (ValueError, KeyError):
                    torn += 1
    return ids, torn


# ---------------------------------------------------------------------------- disk full
@check("disk_full")
def disk_full(args: argparse.Namespace) -> dict[str, Any]:
    print(f"{'capture while the spool filesystem is full (64 KiB tmpfs)':<58}")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("  skipped: needs root and unshare(1) to mount a private tmpfs")
        return {"skipped": "needs root and unshare(1)"}
    with rig() as (r, bucket):
        spool = r.tmp / "state" / "capture-pending"
        spool.mkdir(parents=True)
        # The emulator runs in its own mount namespace, over a tmpfs at its spool folder.
        r.wrap = [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount -t tmpfs -o size=64k tmpfs "{spool}" && exec "$@"',
            "sh",
        ]
        r.start("--capture-flush-seconds", "3600")
        target = f"capture-{uuid.uuid4().hex[:8]}"  # absent until space returns: the spool only grows
        r.deploy("disk-full", bucket, capture_prefix="captures", capture_bucket=target)
        smr = r.client("sagemaker-runtime")
        acknowledged, failed, first_failure = set(), 0, ""
        for _ in range(args.invocations):  # about 2.5 KB a record: 64 KiB are full after some 25
            ident = uuid.uuid4().hex
            try:
                smr.invoke_endpoint(
                    EndpointName="disk-full",
                    Body=json.dumps({"id": ident, "pad": "x" * 2400}).encode(),
                    ContentType="application/json",
                )["Body"].read()
                acknowledged.add(ident)
            except Exception as exc:  # every failure here is capture's: the only fault is the full disk
                failed += 1
                first_failure = first_failure or str(exc)[:300]
        full = r.flush()
        r.client("s3", r.moto_url).create_bucket(Bucket=target)  # space returns as the spool drains
        drained = r.flush()
        ids, torn = _s3_lines(r, target, "captures/")
    figures = {
        "invocations": args.invocations,
        "acknowledged": len(acknowledged),
        "failed_because_of_capture": failed,
        "spool_write_failures": full["spool_write_failures"],
        "records_dropped": drained["records_dropped"],
        "lost": len(acknowledged - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "torn_lines": torn,
        "drained": drained["flushed"],
        "disk_filled": full["spool_write_failures"] > 0,
    }
    if first_failure:
        figures["first_failure"] = first_failure
    for key in ("acknowledged", "failed_because_of_capture", "spool_write_failures", "lost", "duplicated"):
        _row(key, figures[key])
    _row("torn_lines", torn)
    figures["target_met"] = (
        figures["disk_filled"] and failed == 0 and figures["lost"] == 0 and torn == 0 and figures["drained"]
    )
    return figures


# ---------------------------------------------------------------------------- emulator killed, training
@check("emulator_killed_training")
def emulator_killed_training(args: argparse.Namespace) -> dict[str, Any]:
    with rig() as (r, bucket):
        s3 = r.client("s3", r.moto_url)
        s3.put_object(Bucket=bucket, Key="data/train/bicycle_1.png", Body=b"\x89PNG fake")
        s3.put_object(Bucket=bucket, Key="data/train.lst", Body=b"0\t0\ttrain/bicycle_1.png\n")
        r.start()
        sm = r.client("sagemaker")
        name = f"killed-{uuid.uuid4().hex[:8]}"
        channel = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/train/"}}
        sm.create_training_job(
            TrainingJobName=name,
            RoleArn="arn:aws:iam::000000000000:role/reliability",
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            HyperParameters={"mode": "sleep", "seconds": "120"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": channel}],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
        state = r.tmp / "state" / "resources" / "training-jobs" / f"{name}.json"
        deadline, trainer = time.monotonic() + 120, None
        while time.monotonic() < deadline and trainer is None:  # until the trainer runs, by its record
            job = json.loads(state.read_text()) if state.exists() else {}
            secondary = sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"]
            if job.get("pid") and secondary == "Training":
                trainer = job["pid"]
            time.sleep(0.1)
        time.sleep(1.0)  # the trainer is in its sleep
        if trainer is None:
            raise RuntimeError(f"training job {name} never started its trainer; see {r.tmp / 'emulator.log'}")
        r.kill9()
        killed = time.monotonic()
        survived = _trainer_alive(trainer["pid"])
        r.start()
        detected, status, reason = float("nan"), "", ""
        while time.monotonic() < killed + 120:
            job = sm.describe_training_job(TrainingJobName=name)
            status, reason = job["TrainingJobStatus"], job.get("FailureReason", "")
            if status != "InProgress":
                detected = time.monotonic() - killed
                break
            time.sleep(0.05)
        orphans = int(_trainer_alive(trainer["pid"]))
        if orphans:  # measured: now stop it, so a failed check leaves nothing running
            os.killpg(trainer["pid"], signal.SIGKILL)
    figures = {
        "trainer_survived_the_kill": survived,
        "detected_s": round(detected, 2),
        "status_after_restart": status,
        "reason_names_the_stop": STOPPED_REASON in reason,
        "orphans_left": orphans,
    }
    print(f"{'emulator killed (SIGKILL) during a training job':<58}")
    for key, value in figures.items():
        _row(key, value)
    figures["target_met"] = status == "Failed" and figures["reason_names_the_stop"] and orphans == 0
    return figures


def _trainer_alive(pid: int) -> bool:
    """The test trainer still runs as ``pid`` (not a recycled PID: its command line names trainer.py).

    psutil, not sagemaker_emulator._proc: benchmarks/sagemaker_emulator.py shadows that package here."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and any("trainer.py" in a for a in proc.cmdline())
    except psutil.Error:
        return False


# ---------------------------------------------------------------------------- N clouds at once
def _start_localstack(home: Path, port: int, python: Path) -> ServiceRecord:
    settings = load_settings().replace(home=home, localstack_port=port)
    spec = localstack.launch_spec(settings, python)
    for sub in ("tmp", "volume", "s3-storage"):
        (spec.state_dir / sub).mkdir(parents=True, exist_ok=True)
    return spawn(
        "localstack",
        spec.cmd,
        env=spec.env,
        cwd=spec.state_dir,
        log_path=spec.state_dir / "localstack.log",
        pid_path=spec.state_dir / "localstack.pid.json",
        url=spec.url,
        health_url=spec.health_url,
    )


def _healthy_after(record: ServiceRecord, begun: float, timeout: float) -> float | str:
    """Seconds from ``begun`` (before the spawns) to healthy, or why it never was."""
    try:
        wait_healthy(record, timeout)
    except ServiceError as exc:
        return str(exc)[:400]
    return time.monotonic() - begun


@check("clouds_at_once")
def clouds_at_once(args: argparse.Namespace) -> dict[str, Any]:
    python = localstack.ensure_venv(load_settings())
    started, healthy, seconds, failures = 0, 0, [], []
    for _ in range(args.tries):
        root = Path(tempfile.mkdtemp(prefix="reliability-clouds-"))
        homes = [root / f"home{i}" for i in range(args.clouds)]
        ports = free_ports(args.clouds)
        records: list[ServiceRecord] = []
        try:
            begun = time.monotonic()
            with ThreadPoolExecutor(args.clouds) as pool:  # the same moment, as N `harness up` would
                records = list(pool.map(_start_localstack, homes, ports, [python] * args.clouds))
            started += len(records)

            with ThreadPoolExecutor(args.clouds) as pool:
                waits = [pool.submit(_healthy_after, r, begun, args.cloud_timeout) for r in records]
                for outcome in (w.result() for w in waits):
                    if isinstance(outcome, float):
                        healthy += 1
                        seconds.append(outcome)
                    else:
                        failures.append(outcome)
        finally:
            for record in records:
                stop(record)
            if not failures:
                shutil.rmtree(root, ignore_errors=True)
    figures: dict[str, Any] = {
        "clouds": args.clouds,
        "tries": args.tries,
        "started": started,
        "healthy": healthy,
        "to_healthy_median_s": round(statistics.median(seconds), 1) if seconds else None,
        "to_healthy_max_s": round(max(seconds), 1) if seconds else None,
    }
    if failures:
        figures["first_failure"] = failures[0]
    print(f"{f'{args.clouds} LocalStacks started at once, {args.tries} tries':<58}")
    for key in ("started", "healthy", "to_healthy_median_s", "to_healthy_max_s"):
        _row(key, figures[key])
    figures["target_met"] = healthy == started == args.clouds * args.tries
    return figures


# ---------------------------------------------------------------------------- LocalStack killed, run
def _harness_env(home: Path) -> dict[str, str]:
    ls, sm = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "AWS_"))}
    env.update(
        HARNESS_HOME=str(home),
        HARNESS_LOCALSTACK_PORT=str(ls),
        HARNESS_SAGEMAKER_PORT=str(sm),
        HARNESS_BUCKET="fault-bench",
        HARNESS_EPOCHS="2",
        HARNESS_MINI_BATCH_SIZE="16",
        HARNESS_THRESHOLD="0.5",
        HARNESS_LAMBDA_MAX_ENVIRONMENTS="2",
    )
    if os.environ.get("HARNESS_CACHE_DIR"):
        env["HARNESS_CACHE_DIR"] = os.environ["HARNESS_CACHE_DIR"]
    return env


def _harness(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("harness"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@check("localstack_killed")
def localstack_killed(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="reliability-lskill-"))
    env = _harness_env(root / "home")
    tarball = write_tarball(
        root / "tiny.tar.gz",
        train=separable_batch(16, "train", seed=1),
        test=separable_batch(8, "test", seed=2),
    )
    figures: dict[str, Any] = {}
    try:
        first = _harness(env, "run", "--dataset", str(tarball), "--no-report")
        if first.returncode != 0:
            raise RuntimeError(f"the first harness run failed:\n{first.stderr[-3000:]}")
        # Every inference takes 2 s, so executions are in flight when LocalStack dies.
        slow = _harness(env, "faults", "endpoint", "--endpoint", "*", "--latency-ms", "2000")
        if slow.returncode != 0:
            raise RuntimeError(f"harness faults endpoint failed:\n{slow.stderr[-2000:]}")
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
        if not in_executions.wait(600):
            run.kill()
            raise RuntimeError("harness run never reached its executions:\n" + "".join(lines)[-3000:])
        time.sleep(1.0)
        record = json.loads((root / "home" / "localstack" / "localstack.pid.json").read_text())
        os.killpg(record["pid"], signal.SIGKILL)
        killed = time.monotonic()
        try:
            run.wait(timeout=120)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
        detect = time.monotonic() - killed
        reader.join(timeout=5)
        output = "".join(lines)
        _harness(env, "faults", "clear")  # the emulator kept its latency rule
        started = time.monotonic()
        again = _harness(env, "run", "--dataset", str(tarball), "--no-report", "--json")
        figures = {
            "run_exit_code": run.returncode,
            "detected_s": round(detect, 2),
            "names_localstack": f"LocalStack (pid {record['pid']}) exited: see" in output,
            "recovered": again.returncode == 0,
            "recovery_run_s": round(time.monotonic() - started, 1),
        }
        if again.returncode != 0:
            figures["recovery_error"] = again.stderr[-1000:]
    finally:
        _harness(env, "down", timeout=180)
        if figures.get("recovered"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"the home (logs) is kept: {root}")
    print(f"{'LocalStack killed (SIGKILL) during harness run executions':<58}")
    for key in ("run_exit_code", "detected_s", "names_localstack", "recovered", "recovery_run_s"):
        _row(key, figures[key])
    figures["target_met"] = (
        figures["run_exit_code"] != 0 and figures["names_localstack"] and figures["recovered"]
    )
    return figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This module's options, on reliability.py's parser."""
    parser.add_argument("--invocations", type=int, default=120, help="disk_full: invocations while full")
    parser.add_argument("--clouds", type=int, default=4, help="clouds_at_once: LocalStacks started at once")
    parser.add_argument("--tries", type=int, default=3, help="clouds_at_once: how many times")
    parser.add_argument(
        "--cloud-timeout", type=float, default=300.0, help="clouds_at_once: seconds to healthy"
    )
