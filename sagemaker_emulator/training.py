"""Running one training job for real, in the SageMaker container layout under a per-job folder.

    <job>/opt_ml/input/config/{hyperparameters,inputdataconfig,resourceconfig}.json
    <job>/opt_ml/input/data/<channel>/...      (downloaded from S3)
    <job>/opt_ml/model/                        (tarred to <S3OutputPath>/<job>/output/model.tar.gz)
    <job>/opt_ml/output/{failure,data/}        (failure reason; output.tar.gz when not empty)

The phases are the SecondaryStatus values SageMaker reports: Starting, Downloading, Training,
Uploading, then Completed, Failed or Stopped. Logs go to a local file and to CloudWatch Logs
group ``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<epoch>`` as on AWS.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagemaker_emulator import aws
from sagemaker_emulator.executors import CONTAINER_OPT_ML, Executor, ExecutorError, Run, RunSpec
from sagemaker_emulator.metrics import MetricReader

if TYPE_CHECKING:
    from sagemaker_emulator.resources import TrainingJob

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
STOP_GRACE_S = 10.0
FAILURE_MAX_CHARS = 1024


class JobFailed(Exception):
    """Ends a job as Failed; the message is its FailureReason."""


class JobStopped(Exception):
    """Ends a job as Stopped (StopTrainingJob or MaxRuntimeInSeconds)."""


def write_config(opt_ml: Path, request: dict[str, Any]) -> None:
    config = opt_ml / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    hps = {k: str(v) for k, v in (request.get("HyperParameters") or {}).items()}
    channels = {
        ch["ChannelName"]: {
            "ContentType": ch.get("ContentType", ""),
            "TrainingInputMode": ch.get("InputMode")
            or request["AlgorithmSpecification"].get("TrainingInputMode", "File"),
            "S3DistributionType": ch.get("DataSource", {})
            .get("S3DataSource", {})
            .get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": ch.get("RecordWrapperType", "None"),
        }
        for ch in request.get("InputDataConfig") or []
    }
    count = int(request["ResourceConfig"].get("InstanceCount", 1))
    resource = {
        "current_host": "algo-1",
        "current_instance_type": request["ResourceConfig"].get("InstanceType", "ml.m5.large"),
        "hosts": [f"algo-{i}" for i in range(1, count + 1)],
        "network_interface_name": "eth0",
    }
    for name, value in (
        ("hyperparameters.json", hps),
        ("inputdataconfig.json", channels),
        ("resourceconfig.json", resource),
    ):
        (config / name).write_text(json.dumps(value, indent=1))
    for sub in ("model", "output/data", "input/data"):
        (opt_ml / sub).mkdir(parents=True, exist_ok=True)


def container_env(job_name: str, job_arn: str, opt_ml: Path, request: dict[str, Any]) -> dict[str, str]:
    """What SageMaker's training toolkit exposes, so scripts written for it find their folders."""
    channels = [ch["ChannelName"] for ch in request.get("InputDataConfig") or []]
    env = {
        "TRAINING_JOB_NAME": job_name,
        "TRAINING_JOB_ARN": job_arn,
        "SM_MODEL_DIR": str(opt_ml / "model"),
        "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
        "SM_INPUT_DIR": str(opt_ml / "input"),
        "SM_INPUT_CONFIG_DIR": str(opt_ml / "input" / "config"),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(request.get("HyperParameters") or {}),
        "SM_CURRENT_HOST": "algo-1",
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
    }
    for ch in channels:
        env[f"SM_CHANNEL_{ch.upper()}"] = str(opt_ml / "input" / "data" / ch)
    env.update(request.get("Environment") or {})
    return env


def tar_folder(folder: Path, archive: Path) -> None:
    tmp = archive.with_name(f".{archive.name}.part")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    tmp.replace(archive)


# The error types SageMaker itself puts in front of a FailureReason; an algorithm that writes one of
# them into its failure file (the built-in algorithms write "ClientError: ...") keeps it as it is.
FAILURE_PREFIXES = re.compile(r"(AlgorithmError|ClientError|InternalServerError|CapacityError): ")


def container_paths(text: str, opt_ml: Path) -> str:
    """``text`` with the job's host folder written as the container sees it (/opt/ml), as on AWS."""
    for host in {str(opt_ml), str(opt_ml.resolve())}:
        text = text.replace(host, CONTAINER_OPT_ML)
    return text


def failure_reason(opt_ml: Path, code: int | None, tail: list[str]) -> str:
    """``$OPT_ML/output/failure`` when the algorithm wrote one, else the exit code and last log lines."""
    failure = opt_ml / "output" / "failure"
    text = ""
    if failure.is_file():
        text = failure.read_text(errors="replace").strip()
    if not text:
        last = " | ".join(line for line in tail[-5:] if line.strip())
        text = f"ExitCode {code}" + (f": {last}" if last else "")
    if not FAILURE_PREFIXES.match(text):
        text = f"AlgorithmError: {text}"
    return container_paths(text, opt_ml)[:FAILURE_MAX_CHARS]


class TrainingRunner:
    """Drives one job through its phases on a background thread."""

    def __init__(
        self,
        job: TrainingJob,
        workdir: Path,
        executor: Executor,
        on_change: Callable[[TrainingJob], None],
        stop_grace: float = STOP_GRACE_S,
    ):
        self.job = job
        self.workdir = workdir
        self.executor = executor
        self.on_change = on_change
        self.stop_grace = stop_grace
        self.stop_requested = threading.Event()
        self.run_handle: Run | None = None
        self.metrics = MetricReader(job.request["AlgorithmSpecification"])  # metrics.py
        self.injected_failure: str | None = None  # a FailureReason from faults.py: fail when training starts
        self.thread = threading.Thread(target=self._main, name=f"train:{job.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def request_stop(self) -> None:
        self.stop_requested.set()

    def _advance(self, secondary: str, message: str) -> None:
        if self.stop_requested.is_set():
            raise JobStopped("stopped")
        self.job.advance(secondary, message)
        self.on_change(self.job)

    def _main(self) -> None:
        job = self.job
        opt_ml = self.workdir / "opt_ml"
        sink: aws.LogSink | None = None
        outcome: tuple[str, str, str | None] = ("Completed", "Training job completed", None)
        try:
            self._advance("Starting", "Preparing the instances for training")
            self.executor.check(job.image, "train")
            write_config(opt_ml, job.request)
            self._advance("Downloading", "Downloading input data")
            self._download(opt_ml)
            self._advance("Training", "Training image download completed. Training in progress.")
            sink = aws.LogSink(LOG_GROUP, f"{job.name}/algo-1-{int(time.time())}")
            if self.injected_failure is not None:
                sink.write(f"injected fault: {self.injected_failure}")
                raise JobFailed(self.injected_failure)
            code, tail = self._train(opt_ml, sink)
            stopped = self.stop_requested.is_set()
            if code != 0 and not stopped:
                raise JobFailed(failure_reason(opt_ml, code, tail))
            self._advance("Uploading", "Uploading generated training model")
            self._upload(opt_ml)
            if stopped:
                raise JobStopped("stopped")
        except JobStopped:
            if any((opt_ml / "model").glob("*")) and job.model_artifacts is None:
                with contextlib.suppress(aws.S3Error):
                    self._upload(opt_ml)
            outcome = (
                "Stopped",
                "MaxRuntimeExceeded" if job.max_runtime_hit else "Training job stopped",
                None,
            )
        except JobFailed as exc:
            outcome = ("Failed", "Training job failed", str(exc))
        except (ExecutorError, aws.S3Error) as exc:
            outcome = ("Failed", "Training job failed", f"ClientError: {exc}")
        except Exception as exc:  # a bug here must still end the job, not leave it InProgress
            outcome = ("Failed", "Training job failed", f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            # Logs first: whoever sees the final status may read the logs right away.
            if sink is not None:
                sink.close()
            self.metrics.publish(job.name)  # before the status: a reader may query them right away
            reason = container_paths(outcome[2], opt_ml) if outcome[2] else None
            job.finish(outcome[0], outcome[1], reason=reason)
            self.on_change(job)

    def _download(self, opt_ml: Path) -> None:
        for channel in self.job.request.get("InputDataConfig") or []:
            source = channel["DataSource"].get("S3DataSource")
            if source is None:
                raise JobFailed(
                    f"ClientError: channel {channel['ChannelName']}: the emulator supports S3DataSource only"
                )
            if source.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise JobFailed(
                    f"ClientError: channel {channel['ChannelName']}: S3DataType {source['S3DataType']} "
                    "is not supported by the emulator (use S3Prefix)"
                )
            aws.download_prefix(source["S3Uri"], opt_ml / "input" / "data" / channel["ChannelName"])
            if self.stop_requested.is_set():
                raise JobStopped("stopped")

    def _train(self, opt_ml: Path, sink: aws.LogSink) -> tuple[int | None, list[str]]:
        job = self.job
        spec = RunSpec(
            image=job.image,
            mode="train",
            opt_ml=opt_ml,
            name=f"sm-train-{job.name}",
            env=container_env(job.name, job.arn, opt_ml, job.request),
        )
        self.run_handle = run = self.executor.start(spec)
        job.pid = {"pid": run.pid, "started": run.started} if run.pid else None
        self.on_change(job)
        tail: deque[str] = deque(maxlen=50)
        metrics = self.metrics

        def pump() -> None:
            with (self.workdir / "train.log").open("a") as fh:
                for line in run.lines():
                    fh.write(line + "\n")
                    fh.flush()
                    tail.append(line)
                    sink.write(line)
                    for name, value in metrics.feed(line):
                        job.record_metric(name, value)

        reader = threading.Thread(target=pump, name=f"train-log:{job.name}", daemon=True)
        reader.start()
        max_runtime = (job.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        started = time.monotonic()
        code: int | None = None
        while code is None:
            code = run.wait(timeout=0.1)
            if code is not None:
                break
            if max_runtime and time.monotonic() - started > max_runtime:
                job.max_runtime_hit = True
                self.stop_requested.set()
            if self.stop_requested.is_set():
                code = run.stop(self.stop_grace)
                break
        reader.join(timeout=5)
        job.pid = None
        return code, list(tail)

    def _upload(self, opt_ml: Path) -> None:
        output = self.job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        base = f"{output}/{self.job.name}/output"
        archive = self.workdir / "model.tar.gz"
        tar_folder(opt_ml / "model", archive)
        aws.upload_file(archive, f"{base}/model.tar.gz")
        self.job.model_artifacts = f"{base}/model.tar.gz"
        data = opt_ml / "output" / "data"
        if data.is_dir() and any(data.iterdir()):
            out = self.workdir / "output.tar.gz"
            tar_folder(data, out)
            aws.upload_file(out, f"{base}/output.tar.gz")
