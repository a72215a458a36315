"""Model Monitor data capture: the JSON Lines files SageMaker writes for a capturing endpoint.

Record shape (one line per captured invocation)::

    {"captureData": {"endpointInput": {"observedContentType": "...", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV|JSON|BASE64"},
                     "endpointOutput": {... "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<if given>", "inferenceTime": "...Z"},
     "eventVersion": "0"}

Keys: ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`` (UTC).

The request path samples, encodes and appends each record to a spool file under
``<state>/capture-pending`` before the response is sent; a writer thread uploads the spool in
batches grouped by destination and hour, retries what S3 refuses, and a restarted emulator uploads
what an earlier run left, so no acknowledged record is lost, even to ``kill -9`` (see CaptureWriter).
When the disk refuses a record (full) it is held in memory instead, and only past the caps is one
dropped, counted and logged (``spool.py``): capture never fails an invocation.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_emulator import aws
from sagemaker_emulator.spool import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_HELD_BYTES,
    SEGMENT_BYTES,
    Spool,
    complete_lines,
)

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


def capture_key(
    destination: str, endpoint: str, variant: str, when: dt.datetime, uid: str | None = None
) -> tuple[str, str]:
    """(bucket, key) of a capture file for records of ``when``'s hour (``uid`` fixes its name)."""
    bucket, prefix = aws.split_s3_uri(destination)
    name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uid or uuid.uuid4()}.jsonl"
    parts = [p for p in (prefix.strip("/"), endpoint, variant, f"{when:%Y/%m/%d/%H}", name) if p]
    return bucket, "/".join(parts)


class CaptureWriter:
    """Spools each record before the response leaves, and uploads the spool in batches.

    ``submit`` (on the request path) encodes the record and appends it, with where it goes, to the
    active spool segment (:class:`~sagemaker_emulator.spool.Spool`): once InvokeEndpoint has answered,
    the record is in the kernel's page cache and survives a crash (even ``kill -9``) of the emulator,
    or, when the disk refused it or the spool is at its cap, it is held in memory and uploaded from
    there; ``submit`` never raises, so capture never fails an inference (as on AWS). A writer thread
    closes the active segment every ``flush_interval`` seconds (sooner when it grows past
    ``spool.SEGMENT_BYTES``), uploads each closed segment (one S3 object per destination, endpoint,
    variant and hour) and deletes it only when every object is written; a segment S3 refuses stays
    and is retried on the next round, and segments left by an earlier run are uploaded at start.
    Object names derive from the segment's name, so a segment uploaded twice (a crash between the
    upload and the delete) overwrites its objects instead of duplicating records.
    """

    def __init__(
        self,
        spool_dir: Path,
        flush_interval: float = 2.0,
        max_spool_bytes: int = DEFAULT_MAX_BYTES,
        max_held_bytes: int = DEFAULT_MAX_HELD_BYTES,
    ):
        self.spool = Spool(spool_dir, max_spool_bytes, max_held_bytes)
        self.spool_dir = self.spool.folder
        self.flush_interval = flush_interval
        self.records_written = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flush_requests: list[threading.Event] = []
        self._closed = False
        self._clean = True  # whether the last round left nothing in the spool
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def submit(self, inv: Invocation) -> None:
        """Called on the request path, before the response is sent: encode and append, no S3; never raises."""
        try:
            entry = {
                "d": inv.config.destination,
                "e": inv.endpoint,
                "v": inv.variant,
                "t": inv.time.isoformat(),
                "r": record_for(inv),
            }
            line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        except Exception:  # a record that cannot be encoded is dropped and counted, the inference stands
            log.exception("capture record for %s could not be encoded; dropped", inv.endpoint)
            with self.spool.lock:
                self.spool.dropped += 1
            return
        self.spool.append(line)
        if self.spool.active_bytes > SEGMENT_BYTES or self.spool.held:
            self._wake.set()  # back-pressure: upload now rather than at the next interval

    def stats(self) -> dict[str, Any]:
        """The capture metrics ``GET /_emulator/health`` shows (``records_dropped`` should stay 0)."""
        spool = self.spool
        return {
            "records_written": self.records_written,
            "records_held_in_memory": len(spool.held),
            "records_dropped": spool.dropped,
            "spool_write_failures": spool.write_failures,
            "spool_bytes": spool.spooled_bytes,
            "spool_max_bytes": spool.max_bytes,
            "last_error": spool.last_error,
        }

    def flush(self, timeout: float = 30.0) -> bool:
        """Upload everything submitted so far; True when the spool is empty within ``timeout``."""
        done = threading.Event()
        with self._lock:
            self._flush_requests.append(done)
        self._wake.set()
        return done.wait(timeout) and self._clean

    def close(self, timeout: float = 30.0) -> None:
        """Upload what is spooled; what S3 refuses stays in the spool for the next start."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        if self.spool.held or self.spool.dropped:
            log.error("capture: %s at shutdown", self.stats())

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            with self._lock:
                waiting, self._flush_requests = self._flush_requests, []
            self.spool.drain()  # space may have come back: held records go to disk first
            self.spool.rotate()
            try:
                self._clean = self._upload_spool()
            except OSError as exc:  # the spool folder itself is unreadable: keep running, retry next round
                log.warning("capture spool %s unreadable: %s", self.spool_dir, exc)
                self._clean = False
            self._clean = self._upload_held() and self._clean
            self.spool.refresh()
            for event in waiting:
                event.set()
            if self._closed:
                return

    def _upload_spool(self) -> bool:
        """Upload every closed segment, oldest first; True when none is left."""
        self._upload_legacy()
        clean = True
        for segment in sorted(self.spool_dir.glob("*.jsonl")):
            if segment == self.spool.active:
                continue
            try:
                lines = complete_lines(segment.read_bytes())
            except OSError:
                clean = False
                continue
            if not self._upload_lines(segment.name, lines):
                segment.unlink(missing_ok=True)
            else:
                clean = False
        return clean

    def _upload_held(self) -> bool:
        """Records the disk would not take, uploaded from memory; what S3 refuses goes back."""
        lines = self.spool.take_held()
        if not lines:
            return True
        failed = self._upload_lines(f"held-{uuid.uuid4()}", lines)
        self.spool.give_back(failed)
        return not failed

    def _upload_lines(self, batch: str, lines: list[bytes]) -> list[bytes]:
        """Upload spool lines grouped by destination, endpoint, variant and hour; the lines S3 refused.

        Object names derive from ``batch`` and the group, so uploading the same batch again overwrites.
        """
        groups: dict[tuple[str, str, str, str], list[tuple[dt.datetime, dict[str, Any], bytes]]] = (
            defaultdict(list)
        )
        for line in lines:
            try:
                entry = json.loads(line)
                when = dt.datetime.fromisoformat(entry["t"])
                group = (entry["d"], entry["e"], entry["v"], f"{when:%Y%m%d%H}")
                groups[group].append((when, entry["r"], line))
            except (ValueError, KeyError, TypeError):
                log.error("capture spool line unreadable, skipped: %r", line[:200])
                continue
        failed: list[bytes] = []
        for (destination, endpoint, variant, hour), items in groups.items():
            for start in range(0, len(items), MAX_BATCH_RECORDS):
                part = items[start : start + MAX_BATCH_RECORDS]
                body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for _, r, _ in part).encode()
                uid = str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL, f"{batch}/{destination}/{endpoint}/{variant}/{hour}/{start}"
                    )
                )
                bucket, key = capture_key(destination, endpoint, variant, part[0][0], uid)
                if self._put(bucket, key, body):
                    self.records_written += len(part)
                else:
                    failed.extend(line for _, _, line in part)
        return failed

    def _put(self, bucket: str, key: str, body: bytes) -> bool:
        try:
            aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl")
            return True
        except Exception as exc:  # any S3 failure: the spool keeps the records for the next round
            log.warning("capture upload to s3://%s/%s failed (%s); kept for retry", bucket, key, exc)
            return False

    def _upload_legacy(self) -> None:
        """Batches an earlier version of the emulator kept as ``*.json`` (one S3 object each)."""
        for path in sorted(self.spool_dir.glob("*.json")):
            try:
                item = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if self._put(item["bucket"], item["key"], item["body"].encode()):
                path.unlink(missing_ok=True)
                self.records_written += item["body"].count("\n")
