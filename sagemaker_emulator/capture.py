"""Model Monitor data capture: the JSON Lines files SageMaker writes for a capturing endpoint.

Record shape (one line per captured invocation)::

    {"captureData": {"endpointInput": {"observedContentType": "...", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV|JSON|BASE64"},
                     "endpointOutput": {... "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<if given>", "inferenceTime": "...Z"},
     "eventVersion": "0"}

Keys: ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`` (UTC).

The request path only samples and enqueues raw bytes; a writer thread encodes, groups by
destination and hour, and uploads batches. Close drains the queue and uploads what is left; a
batch S3 refuses is kept under ``<state>/capture-pending`` and uploaded on the next start, so no
record is lost on shutdown.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_emulator import aws
from sagemaker_emulator.store import write_json_atomic

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 1000


@dataclass(frozen=True)
class CaptureConfig:
    """The parts of an endpoint config's DataCaptureConfig that decide what is written."""

    destination: str
    sampling_percentage: int
    capture_input: bool
    capture_output: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def from_api(cls, raw: dict[str, Any] | None) -> CaptureConfig | None:
        """``None`` when capture is absent or disabled."""
        if not raw or raw.get("EnableCapture", True) is False:
            return None
        modes = {opt.get("CaptureMode") for opt in raw.get("CaptureOptions", [])}
        headers = raw.get("CaptureContentTypeHeader") or {}
        return cls(
            destination=raw["DestinationS3Uri"].rstrip("/"),
            sampling_percentage=int(raw.get("InitialSamplingPercentage", 100)),
            capture_input="Input" in modes or "InputAndOutput" in modes,
            capture_output="Output" in modes or "InputAndOutput" in modes,
            csv_types=frozenset(_media_type(t) for t in headers.get("CsvContentTypes", [])),
            json_types=frozenset(_media_type(t) for t in headers.get("JsonContentTypes", [])),
        )

    def sampled(self) -> bool:
        pct = self.sampling_percentage
        return pct >= 100 or (pct > 0 and random.random() * 100 < pct)


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def encode_payload(body: bytes, content_type: str, config: CaptureConfig) -> tuple[str, str]:
    """(data, encoding): CSV/JSON content types as text, everything else (or undecodable) BASE64."""
    media = _media_type(content_type)
    for types, encoding in ((config.csv_types, "CSV"), (config.json_types, "JSON")):
        if media in types:
            try:
                return body.decode("utf-8"), encoding
            except UnicodeDecodeError:
                break
    return base64.b64encode(body).decode("ascii"), "BASE64"


@dataclass
class Invocation:
    endpoint: str
    variant: str
    config: CaptureConfig
    input_body: bytes
    input_type: str
    output_body: bytes
    output_type: str
    inference_id: str | None
    time: dt.datetime


def record_for(inv: Invocation) -> dict[str, Any]:
    """The capture record for one invocation, exactly as Model Monitor writes it."""
    capture: dict[str, Any] = {}
    if inv.config.capture_input:
        data, encoding = encode_payload(inv.input_body, inv.input_type, inv.config)
        capture["endpointInput"] = {
            "observedContentType": inv.input_type,
            "mode": "INPUT",
            "data": data,
            "encoding": encoding,
        }
    if inv.config.capture_output:
        data, encoding = encode_payload(inv.output_body, inv.output_type, inv.config)
        capture["endpointOutput"] = {
            "observedContentType": inv.output_type,
            "mode": "OUTPUT",
            "data": data,
            "encoding": encoding,
        }
    meta: dict[str, Any] = {"eventId": str(uuid.uuid4())}
    if inv.inference_id:
        meta["inferenceId"] = inv.inference_id
    meta["inferenceTime"] = inv.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"captureData": capture, "eventMetadata": meta, "eventVersion": "0"}


def capture_key(destination: str, endpoint: str, variant: str, when: dt.datetime) -> tuple[str, str]:
    """(bucket, key) of a new capture file for records of ``when``'s hour."""
    bucket, prefix = aws.split_s3_uri(destination)
    name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    parts = [p for p in (prefix.strip("/"), endpoint, variant, f"{when:%Y/%m/%d/%H}", name) if p]
    return bucket, "/".join(parts)


class CaptureWriter:
    """Batches capture records to S3 from one background thread."""

    def __init__(self, pending_dir: Path, flush_interval: float = 2.0):
        self.pending_dir = Path(pending_dir)
        self.flush_interval = flush_interval
        self._queue: queue.Queue[Invocation | None] = queue.Queue()
        self._flush_requests: queue.Queue[threading.Event] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._closed = False
        self.records_written = 0
        self._thread.start()

    def submit(self, inv: Invocation) -> None:
        """Called on the request path: O(1), no encoding, no I/O."""
        self._queue.put_nowait(inv)

    def flush(self, timeout: float = 30.0) -> bool:
        """Upload everything submitted so far; True when done within ``timeout``."""
        done = threading.Event()
        self._flush_requests.put(done)
        self._queue.put(None)  # wake the writer
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        self._upload_pending_files()
        batch: list[Invocation] = []
        deadline = time.monotonic() + self.flush_interval
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
                if item is not None:
                    batch.append(item)
                    while len(batch) < MAX_BATCH_RECORDS:  # drain what is already there
                        nxt = self._queue.get_nowait()
                        if nxt is None:
                            break
                        batch.append(nxt)
            except queue.Empty:
                pass
            flush_now = not self._flush_requests.empty() or self._closed or len(batch) >= MAX_BATCH_RECORDS
            if flush_now or time.monotonic() >= deadline:
                if self._closed:  # take everything still queued
                    with contextlib.suppress(queue.Empty):
                        while True:
                            nxt = self._queue.get_nowait()
                            if nxt is not None:
                                batch.append(nxt)
                self._write(batch)
                batch = []
                deadline = time.monotonic() + self.flush_interval
                while not self._flush_requests.empty():
                    self._flush_requests.get_nowait().set()
                if self._closed:
                    return

    def _write(self, batch: list[Invocation]) -> None:
        if not batch:
            return
        groups: dict[tuple[str, str, str, str], list[Invocation]] = defaultdict(list)
        for inv in batch:
            groups[(inv.config.destination, inv.endpoint, inv.variant, f"{inv.time:%Y%m%d%H}")].append(inv)
        for (destination, endpoint, variant, _hour), invs in groups.items():
            body = "".join(json.dumps(record_for(i), separators=(",", ":")) + "\n" for i in invs).encode()
            bucket, key = capture_key(destination, endpoint, variant, invs[0].time)
            if self._put(bucket, key, body):
                self.records_written += len(invs)
            else:
                self._spill(bucket, key, body)

    def _put(self, bucket: str, key: str, body: bytes) -> bool:
        try:
            aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl")
            return True
        except Exception as exc:  # any S3 failure: keep the records on disk instead
            log.warning("capture upload to s3://%s/%s failed (%s); kept for retry", bucket, key, exc)
            return False

    def _spill(self, bucket: str, key: str, body: bytes) -> None:
        path = self.pending_dir / f"{uuid.uuid4()}.json"
        write_json_atomic(path, {"bucket": bucket, "key": key, "body": body.decode()})

    def _upload_pending_files(self) -> None:
        if not self.pending_dir.is_dir():
            return
        for path in sorted(self.pending_dir.glob("*.json")):
            try:
                item = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if self._put(item["bucket"], item["key"], item["body"].encode()):
                path.unlink(missing_ok=True)
                self.records_written += item["body"].count("\n")
