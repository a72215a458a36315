"""Batch transform's record handling: split an input object, pack requests, filter, join, assemble.

Pure functions over bytes (no I/O), so each rule of AWS's "Use batch transform" and "Associate
prediction results with input records" pages is unit-tested on its own:

* ``SplitType``: ``None`` (the object is one record), ``Line`` (one record per line), ``RecordIO``
  (MXNet RecordIO framing kept, so a RecordIO container reads its usual stream), ``TFRecord``.
* ``BatchStrategy``: ``SingleRecord`` (one record per request) or ``MultiRecord`` (as many whole
  records as fit in ``MaxPayloadInMB``); a record larger than the limit fails the job.
* ``DataProcessing``: ``InputFilter`` and ``OutputFilter`` are JSONPath expressions over a CSV row
  (a JSON array of its fields) or a JSON document; ``JoinSource=Input`` appends the output to a CSV
  row, adds it as ``SageMakerOutput`` to a JSON object, or wraps other JSON as
  ``{"SageMakerInput": ..., "SageMakerOutput": ...}``.
* ``AssembleWith``: ``Line`` ends each output record with a newline, ``None`` concatenates them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import struct
from collections.abc import Iterator
from typing import Any

RECORDIO_MAGIC = 0xCED7230A
CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/json", "application/jsonlines", "application/x-jsonlines", "application/jsonl")


class RecordError(ValueError):
    """The data or a filter cannot be processed as asked; the message is fit for a FailureReason."""


# ----------------------------------------------------------------------------- splitting
def split(data: bytes, split_type: str) -> list[bytes]:
    """The records of one input object (RecordIO and TFRecord records keep their framing)."""
    if split_type == "None":
        return [data] if data else []
    if split_type == "Line":
        return [line for line in data.splitlines() if line.strip()]
    if split_type == "RecordIO":
        return list(_recordio(data))
    if split_type == "TFRecord":
        return list(_tfrecord(data))
    raise RecordError(f"SplitType {split_type} is not supported")


def _recordio(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            raise RecordError(
                f"the input is not valid RecordIO: {len(data) - pos} stray bytes at offset {pos}"
            )
        magic, lrec = struct.unpack_from("<II", data, pos)
        if magic != RECORDIO_MAGIC:
            raise RecordError(f"the input is not valid RecordIO: no magic number at offset {pos}")
        length = lrec & ((1 << 29) - 1)
        end = pos + 8 + length + (-length % 4)
        if end > len(data):
            raise RecordError(f"the input is not valid RecordIO: the record at offset {pos} is cut short")
        yield data[pos:end]
        pos = end


def _tfrecord(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise RecordError(
                f"the input is not valid TFRecord: {len(data) - pos} stray bytes at offset {pos}"
            )
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 12 + length + 4
        if end > len(data):
            raise RecordError(f"the input is not valid TFRecord: the record at offset {pos} is cut short")
        yield data[pos:end]
        pos = end


def joiner(split_type: str) -> bytes:
    """How records of one request are put together: lines by newlines, framed records back to back."""
    return b"\n" if split_type == "Line" else b""


def batches(records: list[bytes], strategy: str, max_bytes: int, sep: bytes) -> list[list[int]]:
    """Indices of the records of each request; ``max_bytes`` 0 means no limit (AWS: MaxPayloadInMB=0)."""
    out: list[list[int]] = []
    size = 0
    for i, record in enumerate(records):
        if max_bytes and len(record) > max_bytes:
            raise RecordError(
                f"Too much data for max payload size: record {i + 1} has {len(record)} bytes, more than "
                f"MaxPayloadInMB ({max_bytes // (1024 * 1024)} MB)"
            )
        grows = size + len(sep) + len(record)
        if strategy == "MultiRecord" and out and (not max_bytes or grows <= max_bytes):
            out[-1].append(i)
            size = grows
        else:
            out.append([i])
            size = len(record)
    return out


# ----------------------------------------------------------------------------- JSONPath subset
_NAME = r"(?:'[^']*'|\"[^\"]*\")"
_STEP = re.compile(
    rf"\.(\*|[A-Za-z_][\w-]*)|\[\s*(\*|{_NAME}(?:\s*,\s*{_NAME})*|-?\d*:-?\d*|-?\d+(?:\s*,\s*-?\d+)*)\s*\]"
)


def parse_path(expr: str) -> list[tuple[str, Any]]:
    """The operators AWS's page lists: ``$``, ``.name``, ``*``, ``['a','b']``, ``[0,2]``, ``[1:]``."""
    text = expr.strip()
    if not text.startswith("$"):
        raise RecordError(f"the JSONPath expression {expr!r} must start with $")
    steps: list[tuple[str, Any]] = []
    pos = 1
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise RecordError(f"the JSONPath expression {expr!r} is not supported at {text[pos:]!r}")
        name, index = match.group(1), match.group(2)
        if name is not None:
            steps.append(("all", None) if name == "*" else ("key", name))
        elif index == "*":
            steps.append(("all", None))
        elif index[0] in "'\"":
            names = [a or b for a, b in re.findall(r"'([^']*)'|\"([^\"]*)\"", index)]
            steps.append(("key", names[0]) if len(names) == 1 else ("union", names))
        elif ":" in index:
            lo, hi = index.split(":")
            steps.append(("slice", slice(int(lo) if lo else None, int(hi) if hi else None)))
        elif "," in index:
            steps.append(("union", [int(i) for i in index.split(",")]))
        else:
            steps.append(("index", int(index)))
        pos = match.end()
    return steps


def select(value: Any, expr: str) -> Any:
    """``value`` filtered by the JSONPath ``expr``; a path that matches nothing is a RecordError."""
    for kind, arg in parse_path(expr):
        try:
            if kind in ("key", "index", "slice"):
                value = value[arg]
            elif kind == "union":
                value = [value[i] for i in arg]
            else:
                value = list(value.values()) if isinstance(value, dict) else list(value)
        except (KeyError, IndexError, TypeError) as exc:
            raise RecordError(f"the JSONPath expression {expr!r} matches nothing in the record") from exc
    return value


# ----------------------------------------------------------------------------- filters and join
def media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def parse(record: bytes, content_type: str | None, what: str) -> Any:
    """A CSV row as a list of fields, JSON as its value; RecordError for any other type."""
    kind = media_type(content_type)
    if kind not in CSV_TYPES + JSON_TYPES:
        raise RecordError(
            f"DataProcessing needs CSV or JSON data; the {what} is {kind or 'of no declared type'} "
            f"(supported: {', '.join(CSV_TYPES + JSON_TYPES)})"
        )
    try:
        text = record.decode("utf-8")
        if kind in CSV_TYPES:
            return next(csv.reader([text.strip("\r\n")]), [])
        return json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"the {what} is not valid {kind}: {exc}") from exc


def render(value: Any, as_csv: bool) -> bytes:
    if as_csv:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(value if isinstance(value, list) else [value])
        return buf.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def filter_input(record: bytes, expr: str, content_type: str | None) -> bytes:
    """InputFilter on one record ($ passes it through untouched)."""
    if expr.strip() == "$":
        return record
    value = select(parse(record, content_type, "input record"), expr)
    return render(value, media_type(content_type) in CSV_TYPES)


def join_output(
    source: bytes, output: bytes, processing: dict[str, Any], content_type: str | None, accept: str | None
) -> bytes:
    """JoinSource and OutputFilter for one record's output (the identity when neither is set)."""
    join = processing.get("JoinSource", "None") == "Input"
    expr = processing.get("OutputFilter") or "$"
    if not join and expr.strip() == "$":
        return output
    out_value = parse(output, accept, "model's output")
    as_csv = media_type(accept) in CSV_TYPES
    if join:
        in_value = parse(source, content_type, "input record")
        if isinstance(in_value, list) and media_type(content_type) in CSV_TYPES:
            value: Any = in_value + (out_value if isinstance(out_value, list) else [out_value])
            as_csv = as_csv or not isinstance(out_value, dict | list)
        elif isinstance(in_value, dict):
            value, as_csv = {**in_value, "SageMakerOutput": out_value}, False
        else:
            value, as_csv = {"SageMakerInput": in_value, "SageMakerOutput": out_value}, False
    else:
        value = out_value
    return render(select(value, expr), as_csv)


def per_record(response: bytes, count: int) -> list[bytes]:
    """A MultiRecord response split back into one output per record sent (by lines)."""
    if count == 1:
        return [response]
    lines = [line for line in response.splitlines() if line.strip()]
    if len(lines) != count:
        raise RecordError(
            f"the model answered {len(lines)} lines for a request of {count} records; joining or filtering "
            "the output needs one output line per input record"
        )
    return lines


def assemble(parts: list[bytes], assemble_with: str) -> bytes:
    """The output object: ``Line`` ends every output record with a newline; ``None`` concatenates."""
    if assemble_with == "Line":
        return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)
    return b"".join(parts)
