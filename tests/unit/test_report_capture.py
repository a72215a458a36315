"""Parsing capture lines and streams: the documented shapes, every encoding, and what counts as corrupt."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
from datetime import UTC, datetime

import pytest

from harness.report.capture import CaptureLineError, CaptureScan, iter_lines, parse_line, read_stream
from harness.report.labels import parse_lst

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"


def capture_line(
    output: str = "[0.25, 0.75]",
    encoding: str = "JSON",
    when: str | None = "2025-10-04T08:44:11Z",
    **meta: str,
) -> str:
    event = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "image/png",
                "mode": "INPUT",
                "data": base64.b64encode(PNG).decode(),
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output,
                "encoding": encoding,
            },
        },
        "eventMetadata": {"eventId": "e-1", **({"inferenceTime": when} if when else {}), **meta},
        "eventVersion": "0",
    }
    return json.dumps(event)


def parse(line: str | bytes):
    return parse_line(line, endpoint="ep", variant="AllTraffic", source_key="k")


def test_json_output_gives_probabilities_prediction_and_input_hash() -> None:
    rec = parse(capture_line("[0.25, 0.75]"))
    assert rec.probabilities == (0.25, 0.75)
    assert rec.predicted_class == 1
    assert rec.top_confidence == 0.75
    assert rec.input_sha256 == hashlib.sha256(PNG).hexdigest()
    assert rec.input_content_type == "image/png"
    assert rec.output_content_type == "application/json"
    assert rec.inference_time == datetime(2025, 10, 4, 8, 44, 11, tzinfo=UTC)
    assert rec.inference_id is None  # optional in the real service


def test_base64_output_is_decoded() -> None:
    encoded = base64.b64encode(b"[0.9375, 0.0625]").decode()
    rec = parse(capture_line(encoded, encoding="BASE64"))
    assert rec.probabilities == (0.9375, 0.0625)
    assert rec.predicted_class == 0


def test_csv_output_and_batch_of_one_are_understood() -> None:
    assert parse(capture_line("0.5,0.125,0.375", encoding="CSV")).probabilities == (0.5, 0.125, 0.375)
    assert parse(capture_line("[[0.125, 0.875]]")).probabilities == (0.125, 0.875)


def test_inference_id_and_fractional_and_offset_times() -> None:
    rec = parse(capture_line(when="2025-10-04T10:44:11.250+02:00", inferenceId="req-7"))
    assert rec.inference_id == "req-7"
    assert rec.inference_time == datetime(2025, 10, 4, 8, 44, 11, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"eventMetadata": {}}), "captureData missing"),
        (capture_line(when=None), "eventMetadata.inferenceTime missing"),
        (capture_line(when="yesterday"), "eventMetadata.inferenceTime not ISO 8601: 'yesterday'"),
        (capture_line("[0.5]"), "endpointOutput is not a list of class probabilities"),
        (capture_line('["a", "b"]'), "endpointOutput has a non-numeric probability"),
        (capture_line("bicycle"), "endpointOutput.data is neither JSON nor CSV numbers"),
        (capture_line("***", encoding="BASE64"), "endpointOutput.data is not valid base64"),
    ],
)
def test_corrupt_lines_raise_with_a_reason(line: str, reason: str) -> None:
    with pytest.raises(CaptureLineError) as info:
        parse(line)
    assert str(info.value) == reason


def test_iter_lines_handles_lines_longer_than_a_chunk_and_no_final_newline() -> None:
    long = b"x" * 200_000
    assert list(iter_lines(io.BytesIO(b"a\n" + long + b"\nb"))) == [b"a", long, b"b"]
    assert list(iter_lines(io.BytesIO(b""))) == []


def test_read_stream_counts_corrupt_lines_and_ignores_blank_ones() -> None:
    data = "\n".join([capture_line(), "", "{oops", capture_line("[0.875, 0.125]"), ""]).encode()
    scan = CaptureScan()
    read_stream(io.BytesIO(data), gzipped=False, endpoint="ep", variant="v", source_key="k", scan=scan)
    assert [r.probabilities for r in scan.records] == [(0.25, 0.75), (0.875, 0.125)]
    assert scan.lines == 3
    assert scan.skipped == {"not valid JSON": 1}


def test_truncated_gzip_keeps_what_was_readable_and_counts_one_skip() -> None:
    lines = "\n".join(capture_line() for _ in range(2000)).encode()
    whole = gzip.compress(lines)
    scan = CaptureScan()
    read_stream(
        io.BytesIO(whole[: len(whole) // 2]),
        gzipped=True,
        endpoint="ep",
        variant="v",
        source_key="k",
        scan=scan,
    )
    assert 0 < len(scan.records) < 2000
    assert scan.skipped["damaged gzip data"] == 1


def test_parse_lst_reads_tab_separated_rows_and_names_bad_lines() -> None:
    assert parse_lst("0\t0\ttest/a.png\n1\t1.0\ttest/b.png\n\n") == [(0, "test/a.png"), (1, "test/b.png")]
    with pytest.raises(ValueError, match="line 1: expected index, class and path"):
        parse_lst("0 0 test/a.png")
    with pytest.raises(ValueError, match="line 2: class 'x' is not a number"):
        parse_lst("0\t0\ta.png\n1\tx\tb.png")
