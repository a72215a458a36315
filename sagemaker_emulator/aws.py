"""The emulator's own AWS calls (S3 for data and captures, CloudWatch Logs for job logs).

Plain boto3: the endpoints and credentials come from the environment the emulator was started
with (``AWS_ENDPOINT_URL`` etc., see ``harness.targets.Target.process_env``), so the same code
would talk to real S3 and CloudWatch Logs.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=60,
)


class S3Error(RuntimeError):
    """An S3 transfer the emulator needed failed; the message is fit for a FailureReason."""


@functools.cache
def client(service: str) -> Any:
    """One shared client per service (boto3 clients are thread-safe)."""
    return boto3.session.Session().client(service, config=_CONFIG)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/prefix`` -> ``("bucket", "key/prefix")``."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def relative_path(key: str, prefix: str, uri: str) -> PurePosixPath:
    """Where an object under ``prefix`` goes below its destination folder; S3Error when it would leave it.

    An S3 key is any string: ``train/../../etc/cron.d/x`` is a valid key, and ``dest / rel`` alone
    would write it outside the destination (as root, for an emulator run as root). Such keys are
    refused before anything is written.
    """
    rel = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
    parts = PurePosixPath(rel).parts
    if not parts or ".." in parts or "\x00" in rel:
        raise S3Error(
            f"Data download failed: the S3 object key '{key}' under {uri} would be written outside its "
            "destination folder (it has a '..' segment); rename the object so that its key stays under the "
            "prefix."
        )
    return PurePosixPath(*parts)


def download_prefix(uri: str, dest: Path) -> int:
    """Copy every object under the S3 prefix ``uri`` into ``dest`` (SageMaker's S3Prefix semantics).

    The key minus the prefix becomes the relative path; an object whose key *is* the prefix keeps
    its base name. Returns the number of files; raises S3Error when nothing matches.
    """
    bucket, prefix = split_s3_uri(uri)
    s3 = client("s3")
    count = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                target = dest / relative_path(key, prefix, uri)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.part")
                s3.download_file(bucket, key, str(tmp))
                tmp.replace(target)
                count += 1
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"Data download failed: could not read {uri}: {exc}") from exc
    if count == 0:
        raise S3Error(
            f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that the '
            "bucket exists in the selected region and that objects exist under that S3 prefix."
        )
    return count


def download_object(uri: str, dest: Path) -> None:
    bucket, key = split_s3_uri(uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        client("s3").download_file(bucket, key, str(tmp))
    except (ClientError, BotoCoreError) as exc:
        tmp.unlink(missing_ok=True)
        raise S3Error(
            f"Failed to download model data (bucket: {bucket}, key: {key}). Please ensure that there is an "
            f"object located at the URL and that it can be read ({exc})."
        ) from exc
    tmp.replace(dest)


def list_keys(uri: str) -> list[str]:
    """The keys of the objects under the S3 prefix ``uri``, in key order (folder markers left out)."""
    bucket, prefix = split_s3_uri(uri)
    keys: list[str] = []
    try:
        for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"Data download failed: could not read {uri}: {exc}") from exc
    return sorted(keys)


def read_object(uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    try:
        return client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"Data download failed: could not read {uri}: {exc}") from exc


def write_object(uri: str, body: bytes) -> None:
    bucket, key = split_s3_uri(uri)
    try:
        client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"Failed to upload to {uri}: {exc}") from exc


def upload_file(path: Path, uri: str) -> None:
    bucket, key = split_s3_uri(uri)
    try:
        client("s3").upload_file(str(path), bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise S3Error(f"Failed to upload {path.name} to {uri}: {exc}") from exc


class LogSink:
    """Ships lines to one CloudWatch Logs stream in batches, from its own thread.

    Logging must never break a job: failures are logged once and the lines stay in the local log
    file the caller also writes.
    """

    def __init__(self, group: str, stream: str, interval: float = 0.5):
        self.group, self.stream, self.interval = group, stream, interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = False
        self._broken = False
        self._thread = threading.Thread(target=self._run, name=f"logs:{stream}", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line or " "})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._flush()
        self._flush()

    def _ensure(self, logs: Any) -> None:
        if self._ready:
            return
        for call, kwargs in (
            (logs.create_log_group, {"logGroupName": self.group}),
            (logs.create_log_stream, {"logGroupName": self.group, "logStreamName": self.stream}),
        ):
            try:
                call(**kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
        self._ready = True

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch or self._broken:
            return
        try:
            logs = client("logs")
            self._ensure(logs)
            for start in range(0, len(batch), 5000):
                logs.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=batch[start : start + 5000]
                )
        except (ClientError, BotoCoreError) as exc:
            self._broken = True
            log.warning("CloudWatch Logs unavailable for %s/%s: %s", self.group, self.stream, exc)
