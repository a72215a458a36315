"""writeResult: one stored result per photo version, whatever the number of deliveries."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.support.lambdas import load_function

BUCKET = "bkt"
PHOTO = "incoming/a.png"


@pytest.fixture
def s3(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=PHOTO, Body=b"\x89PNG\r\n\x1a\nfirst")
    monkeypatch.setenv("RESULTS_PREFIX", "results/")
    return client


def _event(inferences: list[float], execution: str, status: str = "classified") -> dict[str, Any]:
    body = {"s3_bucket": BUCKET, "s3_key": PHOTO, "inferences": inferences, "image_data": "..."}
    return {"body": body, "status": status, "execution": execution}


def _stored(s3: Any) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=f"results/{PHOTO}.json")["Body"].read())


def test_first_delivery_writes_the_result_with_the_photos_etag(s3: Any) -> None:
    fn = load_function("writeResult")
    out = fn.lambda_handler(_event([0.97, 0.03], "exec-1"), None)
    etag = s3.head_object(Bucket=BUCKET, Key=PHOTO)["ETag"].strip('"')
    assert out["duplicate"] is False and out["result_key"] == f"results/{PHOTO}.json"
    stored = _stored(s3)
    assert stored["etag"] == etag and stored["label"] == "bicycle" and stored["confidence"] == 0.97
    assert stored["execution"] == "exec-1" and "image_data" not in json.dumps(stored)


def test_a_second_delivery_keeps_the_first_result_even_if_it_disagrees(s3: Any) -> None:
    fn = load_function("writeResult")
    fn.lambda_handler(_event([0.97, 0.03], "exec-1"), None)
    first = _stored(s3)
    out = fn.lambda_handler(_event([0.2, 0.8], "exec-2"), None)  # e.g. after a model update
    assert out["duplicate"] is True and out["execution"] == "exec-1"
    assert _stored(s3) == first


def test_a_replaced_photo_gets_a_new_result(s3: Any) -> None:
    fn = load_function("writeResult")
    fn.lambda_handler(_event([0.97, 0.03], "exec-1"), None)
    s3.put_object(Bucket=BUCKET, Key=PHOTO, Body=b"\x89PNG\r\n\x1a\nsecond")
    out = fn.lambda_handler(_event([0.1, 0.9], "exec-3"), None)
    assert out["duplicate"] is False
    assert _stored(s3)["label"] == "motorcycle" and _stored(s3)["execution"] == "exec-3"


def test_a_concurrent_writer_that_wins_is_respected(s3: Any) -> None:
    """Between our read and our write another delivery stored its result: If-None-Match refuses ours."""
    fn = load_function("writeResult")
    etag = s3.head_object(Bucket=BUCKET, Key=PHOTO)["ETag"].strip('"')
    other = fn.build_result(_event([0.9, 0.1], "exec-other"), etag, None)
    original_put = s3.put_object
    calls = {"n": 0}

    def racing_put(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the other writer lands first
            original_put(Bucket=BUCKET, Key=kwargs["Key"], Body=json.dumps(other).encode())
        return original_put(**kwargs)

    s3.put_object = racing_put
    stored, duplicate = fn.write_once(
        s3, BUCKET, f"results/{PHOTO}.json", fn.build_result(_event([0.1, 0.9], "me"), etag, None)
    )
    assert duplicate is True and stored["execution"] == "exec-other"
    assert _stored(s3)["execution"] == "exec-other"


def test_low_confidence_results_carry_the_error(s3: Any) -> None:
    fn = load_function("writeResult")
    event = _event([0.6, 0.4], "exec-4", status="low_confidence")
    event["error"] = {"Error": "ThresholdConfidenceNotMet", "Cause": "{...}"}
    fn.lambda_handler(event, None)
    stored = _stored(s3)
    assert stored["status"] == "low_confidence" and stored["error"] == "ThresholdConfidenceNotMet"


def test_missing_body_is_named() -> None:
    fn = load_function("writeResult")
    with pytest.raises(fn.MissingEventKey, match="s3_key"):
        fn.lambda_handler({"body": {"s3_bucket": BUCKET}}, None)


@pytest.mark.parametrize(("inferences", "label"), [([0.1, 0.9], "motorcycle"), ([0.1, 0.2, 0.7], None)])
def test_the_label_is_named_only_for_a_class_the_model_has(
    inferences: list[float], label: str | None
) -> None:
    """Boundary of ``best < len(LABELS)``: the last known class is named; one past it is not (``<=`` would
    raise IndexError)."""
    fn = load_function("writeResult")
    assert len(fn.LABELS) == 2
    assert fn.build_result(_event(inferences, "e"), "etag", None)["label"] == label
