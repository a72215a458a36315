"""Batch transform: one job runs the model's image in ``serve`` mode and sends it the input objects.

The container contract is the endpoints' (``GET /ping``, ``POST /invocations``, plus the optional
``GET /execution-parameters`` AWS asks for batch defaults), so any image that serves an endpoint
serves a transform job. For each object under ``TransformInput.DataSource.S3DataSource.S3Uri`` the
job splits it into records (``records.py``), filters them, packs them into requests, joins and
filters the outputs, and writes ``<TransformOutput.S3OutputPath>/<key relative to the input
prefix>.out``, as AWS does. Status: InProgress -> Completed | Failed | Stopping -> Stopped; logs go
to ``/aws/sagemaker/TransformJobs``, stream ``<job>/<port>``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sagemaker_emulator import aws, records
from sagemaker_emulator.executors import CONTAINER_OPT_ML, Executor, ExecutorError
from sagemaker_emulator.hosting import ModelServer
from sagemaker_emulator.modeldata import DeployError, prepare_model_dir
from sagemaker_emulator.resources import Resource, utcnow

LOG_GROUP = "/aws/sagemaker/TransformJobs"
DEFAULT_MAX_PAYLOAD_MB = 6  # AWS's default MaxPayloadInMB
DEFAULT_TIMEOUT_S = 600  # ModelClientConfig.InvocationsTimeoutInSeconds' default
DEFAULT_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries' default


class TransformJob(Resource):
    """InProgress -> Completed | Failed | Stopping -> Stopped (DescribeTransformJob's states)."""

    KIND = "transform-jobs"
    NAME_KEY = "TransformJobName"
    TERMINAL = ("Completed", "Failed", "Stopped")
    FIELDS = ("status", "failure_reason", "last_modified", "start_time", "end_time", "pid")

    def __init__(self, request: dict[str, Any], arn: str, created: dt.datetime | None = None):
        super().__init__(request, arn, created)
        self.status = "InProgress"
        self.failure_reason: str | None = None
        self.start_time: dt.datetime | None = None
        self.end_time: dt.datetime | None = None
        self.pid: dict[str, Any] | None = None  # the model server's, so a restart can stop a stale one

    @property
    def done(self) -> bool:
        return self.status in self.TERMINAL

    def set_status(self, status: str, reason: str | None = None) -> None:
        self.status, self.last_modified = status, utcnow()
        if reason is not None:
            self.failure_reason = reason
        if status in self.TERMINAL:
            self.end_time = self.last_modified

    def describe(self) -> dict[str, Any]:
        r = self.request
        source = r["TransformInput"]
        return {
            "TransformJobName": self.name,
            "TransformJobArn": self.arn,
            "TransformJobStatus": self.status,
            "FailureReason": self.failure_reason,
            "ModelName": r["ModelName"],
            "MaxConcurrentTransforms": r.get("MaxConcurrentTransforms"),
            "ModelClientConfig": r.get("ModelClientConfig"),
            "MaxPayloadInMB": r.get("MaxPayloadInMB"),
            "BatchStrategy": r.get("BatchStrategy"),
            "Environment": r.get("Environment"),
            # AWS answers with the documented defaults filled in.
            "TransformInput": {"CompressionType": "None", "SplitType": "None", **source},
            "TransformOutput": r.get("TransformOutput"),
            "DataCaptureConfig": r.get("DataCaptureConfig"),
            "TransformResources": r["TransformResources"],
            "CreationTime": self.created,
            "TransformStartTime": self.start_time,
            "TransformEndTime": self.end_time,
            "DataProcessing": r.get("DataProcessing"),
            "ExperimentConfig": r.get("ExperimentConfig"),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "TransformJobName": self.name,
            "TransformJobArn": self.arn,
            "CreationTime": self.created,
            "TransformEndTime": self.end_time,
            "LastModifiedTime": self.last_modified,
            "TransformJobStatus": self.status,
            "FailureReason": self.failure_reason,
        }


class JobStopped(Exception):
    """StopTransformJob arrived: end the job as Stopped."""


class TransformRunner:
    """Runs one transform job on its own thread; ``on_change`` persists the job after each change."""

    def __init__(
        self,
        job: TransformJob,
        container: dict[str, Any],
        workdir: Path,
        executor: Executor,
        on_change: Callable[[TransformJob], None],
        ping_timeout: float,
    ):
        self.job, self.container, self.workdir = job, container, workdir
        self.executor, self.on_change, self.ping_timeout = executor, on_change, ping_timeout
        self.stop_requested = threading.Event()
        self.server: ModelServer | None = None
        self.thread = threading.Thread(target=self._main, name=f"transform:{job.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def request_stop(self) -> None:
        self.stop_requested.set()

    def _main(self) -> None:
        job = self.job
        status, reason = "Completed", None
        try:
            self._start_server()
            job.start_time = utcnow()
            self.on_change(job)
            params = self._parameters()
            for uri, out_uri in self._inputs():
                self._check_stop()
                self._transform(uri, out_uri, params)
        except JobStopped:
            status = "Stopped"
        except DeployError as exc:
            status, reason = "Failed", f"ClientError: {exc}"
        except records.RecordError as exc:
            status, reason = "Failed", f"ClientError: {exc}"
        except (ExecutorError, aws.S3Error) as exc:
            status, reason = "Failed", f"ClientError: {exc}"
        except AlgorithmError as exc:
            status, reason = "Failed", f"AlgorithmError: {exc}"
        except Exception as exc:  # a bug here must still end the job, not leave it InProgress
            status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
        finally:
            if self.server is not None:
                self.server.stop()  # also closes the log stream: logs are complete before the status
            job.pid = None
            if self.stop_requested.is_set():  # whatever the stop interrupted (a ping wait, a request)
                status, reason = "Stopped", None
            if reason is not None:
                for host in {str(self.workdir / "opt_ml"), str((self.workdir / "opt_ml").resolve())}:
                    reason = reason.replace(host, CONTAINER_OPT_ML)
            job.start_time = job.start_time or utcnow()
            job.set_status(status, reason)
            self.on_change(job)

    def _check_stop(self) -> None:
        if self.stop_requested.is_set():
            raise JobStopped(self.job.name)

    def _start_server(self) -> None:
        image = self.container.get("Image", "")
        self.executor.check(image, "serve")
        prepare_model_dir(self.container, self.workdir)
        r = self.job.request
        env = {
            **(self.container.get("Environment") or {}),
            "SAGEMAKER_BATCH": "true",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(r.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)),
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(r.get("MaxConcurrentTransforms", 1)),
            **(r.get("Environment") or {}),
        }
        if r.get("BatchStrategy"):
            env["SAGEMAKER_BATCH_STRATEGY"] = {
                "SingleRecord": "SINGLE_RECORD",
                "MultiRecord": "MULTI_RECORD",
            }[r["BatchStrategy"]]
        self.server = ModelServer(self.job.name, self.job.name, image, self.workdir)
        self.server.start(self.executor, env, LOG_GROUP)
        self.job.pid = self.server.pid_record()
        self.on_change(self.job)
        self.server.wait_ready(self.ping_timeout, self.stop_requested)
        self._check_stop()

    def _parameters(self) -> dict[str, Any]:
        """The request's settings, else what ``GET /execution-parameters`` offers, else AWS's defaults."""
        r = self.job.request
        offered: dict[str, Any] = {}
        assert self.server is not None
        try:
            with urllib.request.urlopen(self.server.url + "/execution-parameters", timeout=2) as resp:
                offered = json.loads(resp.read()) if resp.status == 200 else {}
        except (urllib.error.URLError, OSError, ValueError):
            offered = {}
        offered = offered if isinstance(offered, dict) else {}
        client = r.get("ModelClientConfig") or {}
        return {
            "strategy": r.get("BatchStrategy") or offered.get("BatchStrategy") or "MultiRecord",
            "max_mb": int(r.get("MaxPayloadInMB", offered.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB))),
            "concurrency": int(
                r.get("MaxConcurrentTransforms") or offered.get("MaxConcurrentTransforms") or 1
            ),
            "timeout": int(client.get("InvocationsTimeoutInSeconds", DEFAULT_TIMEOUT_S)),
            "retries": int(client.get("InvocationsMaxRetries", DEFAULT_RETRIES)),
        }

    def _inputs(self) -> list[tuple[str, str]]:
        """(input URI, output URI) for every object under the input prefix, in key order.

        The output keeps the key's path below the prefix's folder: ``s3://b/in/x/a.png`` under
        ``s3://b/in/`` becomes ``<S3OutputPath>/x/a.png.out``.
        """
        uri = self.job.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = aws.split_s3_uri(uri)
        base = prefix[: prefix.rfind("/") + 1]
        out = self.job.request["TransformOutput"]["S3OutputPath"].rstrip("/")
        found = []
        for key in aws.list_keys(uri):
            rel = aws.relative_path(key, base, uri).as_posix()
            found.append((f"s3://{bucket}/{key}", f"{out}/{rel}.out"))
        if not found:
            raise aws.S3Error(
                f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that '
                "the bucket exists in the selected region and that objects exist under that S3 prefix."
            )
        return found

    def _transform(self, uri: str, out_uri: str, params: dict[str, Any]) -> None:
        r = self.job.request
        source = r["TransformInput"]
        data = aws.read_object(uri)
        if source.get("CompressionType") == "Gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise records.RecordError(f"{uri} is not gzip data (CompressionType Gzip): {exc}") from exc
        split_type = source.get("SplitType", "None")
        content_type, accept = source.get("ContentType"), (r.get("TransformOutput") or {}).get("Accept")
        processing = r.get("DataProcessing") or {}
        try:
            items = records.split(data, split_type)
            sent = [
                records.filter_input(rec, processing.get("InputFilter") or "$", content_type) for rec in items
            ]
            sep = records.joiner(split_type)
            groups = records.batches(sent, params["strategy"], params["max_mb"] * 1024 * 1024, sep)
        except records.RecordError as exc:
            raise records.RecordError(f"{uri}: {exc}") from exc

        joins = self._joins(processing)

        def call(group: list[int]) -> list[bytes]:
            """One request; with a join or an output filter, one output per record of it."""
            self._check_stop()
            response = self._invoke(sep.join(sent[i] for i in group), content_type, accept, params, uri)
            if not joins:
                return [response]
            try:
                outputs = records.per_record(response, len(group))
                return [
                    records.join_output(items[i], o, processing, content_type, accept)
                    for i, o in zip(group, outputs, strict=True)
                ]
            except records.RecordError as exc:
                raise records.RecordError(f"{uri}: {exc}") from exc

        with ThreadPoolExecutor(max_workers=max(1, params["concurrency"])) as pool:
            parts = [p for outputs in pool.map(call, groups) for p in outputs]
        assemble_with = (r.get("TransformOutput") or {}).get("AssembleWith", "None")
        aws.write_object(out_uri, records.assemble(parts, assemble_with))
        self._log(f"transformed {uri} ({len(items)} records, {len(groups)} requests) -> {out_uri}")

    @staticmethod
    def _joins(processing: dict[str, Any]) -> bool:
        return (
            processing.get("JoinSource", "None") == "Input"
            or (processing.get("OutputFilter") or "$").strip() != "$"
        )

    def _invoke(
        self, body: bytes, content_type: str | None, accept: str | None, params: dict[str, Any], uri: str
    ) -> bytes:
        """POST one request; a 5xx or no answer is retried (InvocationsMaxRetries), a 4xx is not."""
        assert self.server is not None
        # Only the headers the job names: no default Content-Type is made up for the container.
        headers = {k: v for k, v in (("Content-Type", content_type), ("Accept", accept)) if v}
        last = ""
        for _attempt in range(params["retries"] + 1):
            self._check_stop()
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=params["timeout"])
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as exc:
                last = f"Could not reach the model container for {uri}: {exc}"
            else:
                if 200 <= resp.status < 300:
                    return data
                last = self._bad_status(resp.status, data.decode("utf-8", "replace")[:512], uri)
                if resp.status < 500:  # the model refused this input: retrying cannot help
                    raise AlgorithmError(last)
            finally:
                conn.close()
            self._log(last)
        raise AlgorithmError(last)

    def _bad_status(self, code: int, text: str, uri: str) -> str:
        return f"Bad HTTP status received from algorithm: {code} for {uri}: {text}"

    def _log(self, line: str) -> None:
        if self.server is not None and self.server.sink is not None:
            self.server.sink.write(line)
        with (self.workdir / "server.log").open("a") as fh:
            fh.write(line + "\n")


class AlgorithmError(Exception):
    """The model container answered an error (or never answered) for a request."""
