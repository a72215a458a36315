"""The three Lambda handlers, called in-process: S3 via moto, the endpoint via botocore's Stubber."""

from __future__ import annotations

import ast
import base64
import io
import json
import math

import boto3
import botocore.config
import numpy as np
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from PIL import Image

from harness.embedded.process import free_port
from tests.support.lambdas import FUNCTIONS, LAMBDAS, load_function


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_functions_import_nothing_but_the_standard_library_and_boto3() -> None:
    allowed = {
        "base64",
        "binascii",
        "datetime",
        "json",
        "math",
        "os",
        "typing",
        "__future__",
        "boto3",
        "botocore",
    }
    for name in FUNCTIONS:
        tree = ast.parse((LAMBDAS / name / "lambda_function.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert {m.split(".")[0] for m in mods} <= allowed, (name, mods)


# --- serializeImageData -----------------------------------------------------------------------------------


@pytest.fixture
def serializer(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("DATA_BUCKET", "scones")
    monkeypatch.setenv("DATA_PREFIX", "test/")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="scones")
        s3.put_object(Bucket="scones", Key="test/bike.png", Body=_png())
        yield load_function("serializeImageData")


def test_serializer_returns_base64_of_the_object(serializer) -> None:
    out = serializer.lambda_handler(
        {"s3_bucket": "scones", "s3_key": "test/bike.png", "image_data": ""}, None
    )
    assert out["statusCode"] == 200
    body = out["body"]
    assert base64.b64decode(body["image_data"]) == _png()
    assert body["s3_key"] == "test/bike.png" and body["inferences"] == []
    json.dumps(out)  # the whole result is JSON-serialisable (no bytes)


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ({"s3_bucket": "scones"}, "MissingEventKey", "no 's3_key'"),
        ({"s3_bucket": "scones", "s3_key": "test/missing.png"}, "ImageNotFound", "does not exist"),
        (
            {"s3_bucket": "other", "s3_key": "test/bike.png"},
            "AccessOutsideAllowedPrefix",
            "not the configured",
        ),
        (
            {"s3_bucket": "scones", "s3_key": "train/x.png"},
            "AccessOutsideAllowedPrefix",
            "outside the allowed",
        ),
        ({"s3_bucket": "scones", "s3_key": "test/../secret"}, "AccessOutsideAllowedPrefix", "outside"),
        # A lone surrogate (issue 24): once a raw UnicodeEncodeError from botocore.
        ({"s3_bucket": "scones", "s3_key": "test/\ud800.png"}, "InvalidImageKey", "not valid UTF-8"),
    ],
)
def test_serializer_errors_have_their_own_names(serializer, event, error: str, message: str) -> None:
    with pytest.raises(Exception, match=message) as info:
        serializer.lambda_handler(event, None)
    assert type(info.value).__name__ == error


# --- classifier -------------------------------------------------------------------------------------------


@pytest.fixture
def classifier(monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "ep")
    module = load_function("classifier")
    client = boto3.client(
        "sagemaker-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    module._runtime = client
    with Stubber(client) as stubber:
        yield module, stubber


def _event(image: bytes) -> dict:
    return {"statusCode": 200, "body": {"image_data": base64.b64encode(image).decode(), "s3_key": "k"}}


def test_classifier_sends_png_and_adds_float_inferences(classifier) -> None:
    module, stubber = classifier
    stubber.add_response(
        "invoke_endpoint",
        {"Body": io.BytesIO(b"[0.97, 0.03]"), "ContentType": "application/json"},
        {"EndpointName": "ep", "ContentType": "image/png", "Accept": "application/json", "Body": _png()},
    )
    out = module.lambda_handler(_event(_png()), None)
    assert out["body"]["inferences"] == [0.97, 0.03]
    assert out["body"]["s3_key"] == "k"
    stubber.assert_no_pending_responses()


def test_classifier_refuses_non_images_before_calling_the_endpoint(classifier) -> None:
    module, _stubber = classifier  # no stubbed response: any call would fail the test
    with pytest.raises(Exception, match="not a PNG or JPEG") as info:
        module.lambda_handler(_event(b"hello world"), None)
    assert type(info.value).__name__ == "NotAnImage"
    with pytest.raises(Exception, match="not valid base64") as info:
        module.lambda_handler({"image_data": "***"}, None)
    assert type(info.value).__name__ == "NotAnImage"
    with pytest.raises(Exception, match="no 'image_data'") as info:
        module.lambda_handler({"body": {}}, None)
    assert type(info.value).__name__ == "MissingEventKey"


def test_classifier_passes_the_endpoint_error_on(classifier) -> None:
    module, stubber = classifier
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationError",
        service_message="Endpoint ep of account x not found.",
    )
    with pytest.raises(Exception, match="ValidationError: Endpoint ep of account x not found") as info:
        module.lambda_handler(_event(_png()), None)
    assert type(info.value).__name__ == "EndpointInvocationFailed"


def test_classifier_names_an_unreachable_endpoint_with_its_own_error(monkeypatch) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", "ep")
    module = load_function("classifier")
    module._runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(Exception, match="could not be reached: EndpointConnectionError") as info:
        module.lambda_handler(_event(_png()), None)
    assert type(info.value).__name__ == "EndpointInvocationFailed"


def test_classifier_malformed_endpoint_answer(classifier) -> None:
    module, stubber = classifier
    stubber.add_response("invoke_endpoint", {"Body": io.BytesIO(b'{"oops": 1}')})
    with pytest.raises(Exception) as info:
        module.lambda_handler(_event(_png()), None)
    assert type(info.value).__name__ == "MalformedInferences"


# --- filter -----------------------------------------------------------------------------------------------


def test_filter_passes_confident_and_fails_low_confidence(monkeypatch) -> None:
    module = load_function("filter")
    event = {"statusCode": 200, "body": {"inferences": [0.95, 0.05], "s3_key": "k"}}
    assert module.lambda_handler(event, None) == {"statusCode": 200, "body": event["body"]}
    monkeypatch.setenv("THRESHOLD", "0.999")
    with pytest.raises(
        module.ThresholdConfidenceNotMet, match=r"top confidence 0\.9500 .* below the threshold 0\.999"
    ):
        module.lambda_handler(event, None)
    monkeypatch.delenv("THRESHOLD")
    with pytest.raises(module.ThresholdConfidenceNotMet, match=r"threshold 0\.93"):
        module.lambda_handler({"body": {"inferences": [0.6, 0.4]}}, None)


@pytest.mark.parametrize("threshold", ["0.93", "0.5", "1.0", "0.0"])
def test_filter_boundary_a_confidence_equal_to_the_threshold_passes(monkeypatch, threshold: str) -> None:
    """The threshold is the lowest passing confidence (the original project's filter kept
    ``confidence >= THRESHOLD``), so ``<`` turned into ``<=`` must fail here; just below it fails."""
    module = load_function("filter")
    monkeypatch.setenv("THRESHOLD", threshold)
    at = float(threshold)
    event = {"body": {"inferences": [at, 0.0]}}  # the top confidence is exactly the threshold
    assert module.lambda_handler(event, None)["statusCode"] == 200
    if at > 0.0:
        below = math.nextafter(at, 0.0)
        with pytest.raises(module.ThresholdConfidenceNotMet):
            module.lambda_handler({"body": {"inferences": [below, 0.0]}}, None)


@pytest.mark.parametrize(
    ("raw", "accepted"), [("0", True), ("1", True), ("1.0000001", False), ("-0.0001", False)]
)
def test_filter_threshold_bounds_are_inclusive(monkeypatch, raw: str, accepted: bool) -> None:
    module = load_function("filter")
    monkeypatch.setenv("THRESHOLD", raw)
    if accepted:
        module.lambda_handler({"body": {"inferences": [1.0, 0.0]}}, None)
    else:
        with pytest.raises(ValueError, match="THRESHOLD must be between 0 and 1"):
            module.lambda_handler({"body": {"inferences": [1.0, 0.0]}}, None)


@pytest.mark.parametrize(
    ("inferences", "valid"),
    [([1.0, 0.0], True), ([0.0, 0.0], True), ([1.0000001, 0.0], False), ([0.5, -1e-9], False)],
)
def test_filter_probability_bounds_are_inclusive(monkeypatch, inferences: list[float], valid: bool) -> None:
    module = load_function("filter")
    monkeypatch.setenv("THRESHOLD", "0")
    if valid:
        assert module.lambda_handler({"body": {"inferences": inferences}}, None)["statusCode"] == 200
    else:
        with pytest.raises(module.MalformedInferences):
            module.lambda_handler({"body": {"inferences": inferences}}, None)


@pytest.mark.parametrize(
    ("inferences", "error"),
    [
        ("[0.9, 0.1]", "MalformedInferences"),
        ([], "MalformedInferences"),
        ([0.5, "x"], "MalformedInferences"),
        ([1.5, -0.5], "MalformedInferences"),
        ([float("nan"), 0.1], "MalformedInferences"),
    ],
)
def test_filter_malformed_inferences(inferences, error: str) -> None:
    module = load_function("filter")
    with pytest.raises(Exception) as info:
        module.lambda_handler({"body": {"inferences": inferences}}, None)
    assert type(info.value).__name__ == error
    with pytest.raises(module.MissingEventKey):
        module.lambda_handler({"body": {}}, None)
