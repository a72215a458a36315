"""Read SageMaker data-capture files into flat records, one line at a time.

The endpoint writes one JSON object per request (DESIGN.md contract 5, and the
documented shape of the real service: ``captureData.endpointInput/endpointOutput``,
``eventMetadata`` with ``eventId``, optional ``inferenceId`` and ``inferenceTime``,
``eventVersion``). Files can be large and numerous, so this module streams each S3
object and never keeps the captured images: the input is reduced to a SHA-256 of
its decoded bytes, which is all the report needs to find the true label.

A line that cannot be understood is skipped and counted with its reason rather
than aborting the report: one bad write must not hide a day of traffic.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from harness.report.pixels import pixel_key

CAPTURE_SUFFIXES = (".jsonl", ".jsonl.gz")
_CHUNK = 1 << 16


class CaptureLineError(ValueError):
    """One capture line is not a usable record; the message says why (it becomes a skip reason)."""


@dataclass(frozen=True)
class CaptureRecord:
    """One captured inference, reduced to what the report uses."""

    inference_time: datetime
    endpoint: str
    variant: str
    event_id: str | None
    inference_id: str | None
    input_content_type: str | None
    output_content_type: str | None
    probabilities: tuple[float, ...]
    input_sha256: str | None
    source_key: str
    # Digest of the decoded pixels when the input is an image (see harness.report.pixels).
    input_pixels: str | None = None

    @property
    def predicted_class(self) -> int:
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)

    @property
    def top_confidence(self) -> float:
        return max(self.probabilities)


@dataclass
class CaptureScan:
    """What a scan of the capture prefix found: the records plus what was skipped and why."""

    records: list[CaptureRecord] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def skipped_lines(self) -> int:
        return sum(self.skipped.values())


def iter_lines(stream: IO[bytes] | Any) -> Iterator[bytes]:
    """Yield the lines of a binary stream (anything with ``read(n)``) without reading it whole."""
    pending = b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def _parse_time(raw: Any) -> datetime:
    if not isinstance(raw, str) or not raw:
        raise CaptureLineError("eventMetadata.inferenceTime missing")
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CaptureLineError(f"eventMetadata.inferenceTime not ISO 8601: {raw!r}") from exc
    # The service writes UTC ("...Z"); a naive time is taken as UTC rather than local time.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _decode_payload(part: dict[str, Any], where: str) -> bytes | str | list[Any]:
    """The payload of ``endpointInput``/``endpointOutput`` as bytes (BASE64) or text/JSON value."""
    if "data" not in part:
        raise CaptureLineError(f"{where}.data missing")
    data = part["data"]
    encoding = str(part.get("encoding") or "").upper()
    if encoding == "BASE64":
        if not isinstance(data, str):
            raise CaptureLineError(f"{where}.data is not a base64 string")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CaptureLineError(f"{where}.data is not valid base64") from exc
    return data


def _probabilities(output: dict[str, Any]) -> tuple[float, ...]:
    payload = _decode_payload(output, "endpointOutput")
    values: Any = payload
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CaptureLineError("endpointOutput.data is not UTF-8 text") from exc
    if isinstance(payload, str):
        text = payload.strip()
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            # CSV output ("0.1,0.9") is the other documented text encoding.
            try:
                values = [float(v) for v in text.split(",")]
            except ValueError as exc:
                raise CaptureLineError("endpointOutput.data is neither JSON nor CSV numbers") from exc
    if isinstance(values, dict):
        # Some containers wrap the scores: {"probabilities": [...]} / {"predictions": [...]}.
        values = values.get("probabilities", values.get("predictions"))
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], list):
        values = values[0]  # a batch of one
    if not isinstance(values, list) or len(values) < 2:
        raise CaptureLineError("endpointOutput is not a list of class probabilities")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise CaptureLineError("endpointOutput has a non-numeric probability")
    probs = tuple(float(v) for v in values)
    if any(v != v for v in probs):  # NaN
        raise CaptureLineError("endpointOutput has a NaN probability")
    return probs


def _input_digest(
    capture: dict[str, Any], known: Container[str] | None = None
) -> tuple[str | None, str | None, str | None]:
    """Content type, SHA-256 of the bytes and (for an image) of the decoded pixels of the input.

    Decoding costs ~20x the hash, so with ``known`` (digests of the staged images' bytes) the pixels
    are decoded only for inputs whose bytes match none of them: the re-encoded ones.
    """
    part = capture.get("endpointInput")
    if not isinstance(part, dict):
        return None, None, None  # CaptureMode Output only: no input to match
    payload = _decode_payload(part, "endpointInput")
    if isinstance(payload, bytes):
        raw = payload
    elif isinstance(payload, str):
        raw = payload.encode("utf-8")
    else:
        raw = json.dumps(payload).encode("utf-8")
    digest = hashlib.sha256(raw).hexdigest()
    decode = isinstance(payload, bytes) and (known is None or digest not in known)
    return part.get("observedContentType"), digest, pixel_key(raw) if decode else None


def parse_line(
    line: bytes | str, *, endpoint: str, variant: str, source_key: str, known: Container[str] | None = None
) -> CaptureRecord:
    """Parse one capture line; raises :class:`CaptureLineError` naming what is wrong."""
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CaptureLineError("not valid JSON") from exc
    if not isinstance(event, dict):
        raise CaptureLineError("not a JSON object")
    capture = event.get("captureData")
    if not isinstance(capture, dict):
        raise CaptureLineError("captureData missing")
    output = capture.get("endpointOutput")
    if not isinstance(output, dict):
        raise CaptureLineError("captureData.endpointOutput missing")
    meta = event.get("eventMetadata")
    if not isinstance(meta, dict):
        raise CaptureLineError("eventMetadata missing")
    probabilities = _probabilities(output)
    input_type, digest, pixels = _input_digest(capture, known)
    return CaptureRecord(
        inference_time=_parse_time(meta.get("inferenceTime")),
        endpoint=endpoint,
        variant=variant,
        event_id=meta.get("eventId"),
        inference_id=meta.get("inferenceId"),
        input_content_type=input_type,
        output_content_type=output.get("observedContentType"),
        probabilities=probabilities,
        input_sha256=digest,
        source_key=source_key,
        input_pixels=pixels,
    )


def read_stream(
    stream: IO[bytes] | Any,
    *,
    gzipped: bool,
    endpoint: str,
    variant: str,
    source_key: str,
    scan: CaptureScan,
    known: Container[str] | None = None,
) -> None:
    """Parse every line of one capture file into ``scan``; bad lines are counted, never raised."""
    source = gzip.GzipFile(fileobj=stream, mode="rb") if gzipped else stream
    lines = iter_lines(source)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            break
        except (OSError, EOFError, zlib.error):
            # A truncated or damaged gzip member: what was read so far counts, the rest is one skip.
            scan.skipped["damaged gzip data"] += 1
            break
        if not line.strip():
            continue
        scan.lines += 1
        try:
            record = parse_line(line, endpoint=endpoint, variant=variant, source_key=source_key, known=known)
            scan.records.append(record)
        except CaptureLineError as exc:
            scan.skipped[str(exc)] += 1


def capture_keys(s3: Any, bucket: str, prefix: str) -> Iterable[dict[str, Any]]:
    """Every capture object (``.jsonl``/``.jsonl.gz``) under ``prefix``, paginated, in key order."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(CAPTURE_SUFFIXES):
                yield obj


def endpoint_prefix(capture_prefix: str, endpoint: str) -> str:
    """``data_capture/<endpoint>/``: where the service writes ``<variant>/yyyy/mm/dd/hh/*.jsonl``."""
    return f"{capture_prefix.strip('/')}/{endpoint}/".lstrip("/")


def scan_captures(
    s3: Any, bucket: str, capture_prefix: str, endpoint: str, known: Container[str] | None = None
) -> CaptureScan:
    """Stream every capture file of ``endpoint`` from S3 into one :class:`CaptureScan`.

    ``known``: SHA-256 digests of image bytes already labelled; see :func:`_input_digest`.
    """
    prefix = endpoint_prefix(capture_prefix, endpoint)
    scan = CaptureScan()
    for obj in capture_keys(s3, bucket, prefix):
        key = obj["Key"]
        relative = key[len(prefix) :]
        variant = relative.split("/", 1)[0] if "/" in relative else ""
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            read_stream(
                body,
                gzipped=key.endswith(".gz"),
                endpoint=endpoint,
                variant=variant,
                source_key=key,
                scan=scan,
                known=known,
            )
        finally:
            body.close()
        scan.files += 1
    return scan
