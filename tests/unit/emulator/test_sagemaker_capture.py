"""Data capture through the emulator: Model Monitor's JSON Lines in S3, sampled, and never lost."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.unit.emulator.support import (
    capture_config,
    capture_records,
    deploy,
    put_model,
    read_capture_line,
    unique,
)

# A record as Amazon SageMaker writes it (shape of the AWS documentation's example).
AWS_SAMPLE = (
    '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    '"data":"132,25,113.2,96,269.9,107,229.1,87,7.1,7,2","encoding":"CSV"},'
    '"endpointOutput":{"observedContentType":"text/csv; charset=utf-8","mode":"OUTPUT",'
    '"data":"0.01076381653547287","encoding":"CSV"}},'
    '"eventMetadata":{"eventId":"feca1ab1-8025-47e3-8f6a-99e3fdd7b8d9","inferenceTime":"2019-11-20T23:33:12Z"},'
    '"eventVersion":"0"}'
)
KEY = re.compile(
    r"^(?P<prefix>.+)/(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.jsonl$"
)


def test_the_reader_accepts_a_real_aws_record():
    parsed = read_capture_line(AWS_SAMPLE)
    assert parsed["endpointOutput"] == b"0.01076381653547287"


def test_every_invocation_is_captured_under_20_concurrent_clients(sm, smr, s3, bucket, emulator):
    name, prefix = unique("cap"), unique("capture")
    headers = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}
    deploy(
        sm,
        name,
        put_model(s3, bucket, "v1"),
        capture=capture_config(bucket, prefix, CaptureContentTypeHeader=headers),
    )
    assert sm.describe_endpoint(EndpointName=name)["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/{prefix}",
        "KmsKeyId": "",  # required by botocore's DataCaptureConfigSummary
    }

    def call(i: int) -> None:
        smr.invoke_endpoint(
            EndpointName=name,
            Body=json.dumps({"i": i}).encode(),
            ContentType="application/json",
            InferenceId=f"id-{i}",
        )

    invocations = 300
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(call, range(invocations)))
    assert emulator.flush_capture()["flushed"] is True

    records = capture_records(s3, bucket, prefix + "/")
    assert len(records) == invocations
    for key, _ in records:
        match = KEY.match(key)
        assert match, key
        assert (match["prefix"], match["endpoint"], match["variant"]) == (prefix, name, "AllTraffic")
    seen = set()
    for _, rec in records:
        i = json.loads(rec["endpointInput"])["i"]
        seen.add(i)
        assert rec["endpointInputEncoding"] == "JSON"
        assert rec["endpointOutputEncoding"] == "JSON"
        assert json.loads(rec["endpointOutput"])["echo"] == json.dumps({"i": i})
        assert rec["meta"]["inferenceId"] == f"id-{i}"
    assert seen == set(range(invocations))
    sm.delete_endpoint(EndpointName=name)


def test_encodings_and_capture_modes(sm, smr, s3, bucket, emulator):
    name, prefix = unique("cap-enc"), unique("capture")
    deploy(
        sm,
        name,
        put_model(s3, bucket, "v1"),
        capture=capture_config(
            bucket, prefix, modes=("Input",), CaptureContentTypeHeader={"CsvContentTypes": ["text/csv"]}
        ),
    )
    png = b"\x89PNG\r\n\x1a\n\x00binary"
    smr.invoke_endpoint(EndpointName=name, Body=png, ContentType="image/png")
    smr.invoke_endpoint(EndpointName=name, Body=b"1,2,3", ContentType="text/csv")
    smr.invoke_endpoint(
        EndpointName=name, Body=b'{"a": 1}', ContentType="application/json"
    )  # not listed: BASE64
    emulator.flush_capture()
    records = sorted(
        (r for _, r in capture_records(s3, bucket, prefix + "/")), key=lambda r: r["endpointInputEncoding"]
    )
    assert [r["endpointInputEncoding"] for r in records] == ["BASE64", "BASE64", "CSV"]
    assert {r["endpointInput"] for r in records} == {png, b"1,2,3", b'{"a": 1}'}
    assert all("endpointOutput" not in r for r in records)
    raw = (
        s3.get_object(Bucket=bucket, Key=capture_records_keys(s3, bucket, prefix)[0])["Body"].read().decode()
    )
    assert '"mode":"INPUT"' in raw and '"observedContentType"' in raw
    sm.delete_endpoint(EndpointName=name)


def capture_records_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])]


@pytest.mark.parametrize("variant", ["disabled", "zero-percent", "absent"])
def test_nothing_is_captured_when_capture_is_off(sm, smr, s3, bucket, emulator, variant):
    name, prefix = unique("cap-off"), unique("capture")
    capture = {
        "disabled": capture_config(bucket, prefix, EnableCapture=False),
        "zero-percent": capture_config(bucket, prefix, pct=0),
        "absent": None,
    }[variant]
    deploy(sm, name, put_model(s3, bucket, "v1"), capture=capture)
    for _ in range(10):
        smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    emulator.flush_capture()
    assert capture_records_keys(s3, bucket, prefix) == []
    sm.delete_endpoint(EndpointName=name)


def test_sampling_percentage_is_respected(sm, smr, s3, bucket, emulator):
    name, prefix = unique("cap-pct"), unique("capture")
    deploy(sm, name, put_model(s3, bucket, "v1"), capture=capture_config(bucket, prefix, pct=30))
    for _ in range(400):
        smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    emulator.flush_capture()
    count = len(capture_records(s3, bucket, prefix + "/"))
    assert 70 <= count <= 170  # 120 expected; bounds are > 5 standard deviations apart
    sm.delete_endpoint(EndpointName=name)


def test_no_record_is_lost_on_shutdown(emulator_factory, s3, bucket):
    emu = emulator_factory("--capture-flush-seconds", "3600")  # nothing would be written before shutdown
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name, prefix = unique("cap-stop"), unique("capture")
    deploy(client, name, put_model(s3, bucket, "v1"), capture=capture_config(bucket, prefix))
    for i in range(25):
        runtime.invoke_endpoint(EndpointName=name, Body=str(i).encode(), ContentType="text/plain")
    assert capture_records_keys(s3, bucket, prefix) == []
    emu.stop()
    assert len(capture_records(s3, bucket, prefix + "/")) == 25


def test_records_s3_refuses_are_kept_and_uploaded_after_a_restart(emulator_factory, s3, bucket):
    emu = emulator_factory("--capture-flush-seconds", "3600")
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name, target = unique("cap-spill"), unique("capture-bucket")
    deploy(
        client,
        name,
        put_model(s3, bucket, "v1"),
        capture={**capture_config(bucket, "x"), "DestinationS3Uri": f"s3://{target}/captures"},
    )
    for i in range(5):
        runtime.invoke_endpoint(EndpointName=name, Body=str(i).encode(), ContentType="text/plain")
    emu.stop()  # the bucket does not exist: the records stay in the spool
    assert list((emu.state_dir / "capture-pending").glob("*.jsonl"))
    s3.create_bucket(Bucket=target)
    emu.start()
    emu.flush_capture()
    assert len(capture_records(s3, target, "captures/")) == 5
    assert not list((emu.state_dir / "capture-pending").glob("*.jsonl"))
