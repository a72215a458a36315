"""records.py on its own: splitting, packing, JSONPath filters, joins and assembly of batch transform.

AWS sources: "Use batch transform to run inference" (SplitType, BatchStrategy, MaxPayloadInMB,
AssembleWith), "Associate prediction results with input records" (InputFilter/OutputFilter JSONPath
operators, JoinSource: CSV rows get the output appended, JSON objects get ``SageMakerOutput``, other
JSON is wrapped as ``SageMakerInput``/``SageMakerOutput``), API_DataProcessing's examples
(``$``, ``$[1:]``, ``$.features``), and the MXNet RecordIO format (magic 0xced7230a, 29-bit length,
4-byte padding).
"""

from __future__ import annotations

import struct

import pytest

from sagemaker_emulator import records
from sagemaker_emulator.records import RecordError


def recordio(payload: bytes) -> bytes:
    return struct.pack("<II", records.RECORDIO_MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4)


def tfrecord(payload: bytes) -> bytes:
    return struct.pack("<Q", len(payload)) + b"crc!" + payload + b"crc!"


def test_split_types():
    assert records.split(b"a\nb\r\n\nc", "Line") == [b"a", b"b", b"c"]
    assert records.split(b"a\nb", "None") == [b"a\nb"]
    framed = [recordio(b"abc"), recordio(b"defgh")]
    assert records.split(b"".join(framed), "RecordIO") == framed  # framing kept for the container
    tf = [tfrecord(b"x"), tfrecord(b"yz")]
    assert records.split(b"".join(tf), "TFRecord") == tf
    with pytest.raises(RecordError, match="not valid RecordIO: no magic number"):
        records.split(b"\0" * 8, "RecordIO")
    with pytest.raises(RecordError, match="cut short"):
        records.split(recordio(b"abcdef")[:-4], "RecordIO")


def test_batches_pack_whole_records_within_the_payload_limit():
    recs = [b"a" * 4, b"b" * 4, b"c" * 4]
    assert records.batches(recs, "SingleRecord", 100, b"\n") == [[0], [1], [2]]
    assert records.batches(recs, "MultiRecord", 100, b"\n") == [[0, 1, 2]]
    assert records.batches(recs, "MultiRecord", 9, b"\n") == [[0, 1], [2]]  # 4 + 1 + 4 fits, 14 does not
    assert records.batches(recs, "MultiRecord", 0, b"\n") == [[0, 1, 2]]  # 0: no limit
    with pytest.raises(RecordError, match="Too much data for max payload size"):
        records.batches([b"x" * 10], "SingleRecord", 9, b"")


def test_jsonpath_subset():
    row = {"id": 7, "features": [1, 2, 3], "label": "cat"}
    assert records.select(row, "$") == row
    assert records.select(row, "$.features") == [1, 2, 3]
    assert records.select(row, "$.features[1:]") == [2, 3]
    assert records.select(row, "$['id','label']") == [7, "cat"]
    assert records.select([0, 1, 2, 3], "$[0,2]") == [0, 2]
    assert records.select([0, 1, 2, 3], "$[-1]") == 3
    with pytest.raises(RecordError, match="matches nothing"):
        records.select(row, "$.missing")
    with pytest.raises(RecordError, match="not supported"):
        records.select(row, "$..id")


def test_csv_input_filter_and_join():
    assert records.filter_input(b"id-1,0.5,0.7", "$[1:]", "text/csv") == b"0.5,0.7"
    joined = records.join_output(b"id-1,0.5,0.7", b"0.9", {"JoinSource": "Input"}, "text/csv", "text/csv")
    assert joined == b"id-1,0.5,0.7,0.9"  # the output appended to the input row
    picked = records.join_output(
        b"id-1,0.5,0.7", b"0.9", {"JoinSource": "Input", "OutputFilter": "$[0,-1]"}, "text/csv", "text/csv"
    )
    assert picked == b"id-1,0.9"


def test_json_join_shapes():
    obj = records.join_output(
        b'{"a":1}', b"[0.2,0.8]", {"JoinSource": "Input"}, "application/json", "application/json"
    )
    assert obj == b'{"a":1,"SageMakerOutput":[0.2,0.8]}'
    arr = records.join_output(
        b"[1,2]", b"0.5", {"JoinSource": "Input"}, "application/json", "application/json"
    )
    assert arr == b'{"SageMakerInput":[1,2],"SageMakerOutput":0.5}'
    with pytest.raises(RecordError, match="DataProcessing needs CSV or JSON data"):
        records.join_output(b"\x89PNG", b"{}", {"JoinSource": "Input"}, "image/png", "application/json")


def test_per_record_and_assemble():
    assert records.per_record(b"x\ny\n", 2) == [b"x", b"y"]
    with pytest.raises(RecordError, match="answered 1 lines for a request of 2 records"):
        records.per_record(b"x\n", 2)
    assert records.assemble([b"a", b"b\n"], "Line") == b"a\nb\n"
    assert records.assemble([b"a", b"b"], "None") == b"ab"
