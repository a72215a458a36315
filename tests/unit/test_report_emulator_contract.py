"""Contract between the pieces: what the SageMaker emulator's capture writer uploads, the report reads.

The capture is written by the emulator's real :class:`CaptureWriter` with the DataCaptureConfig
the harness deploys (``harness.model.endpoint_config_request``), into moto S3; the report then
reads it back. (An e2e test over a real workflow run belongs with the workflow, issue 6.)
"""

from __future__ import annotations

import datetime as dt
import io
import json

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from harness.config import Settings
from harness.model import endpoint_config_request
from harness.report import build_report
from harness.targets.aws import AwsTarget
from sagemaker_emulator.capture import CaptureConfig, CaptureWriter, Invocation

BUCKET = "scones-contract"


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (shade, 255 - shade, 0)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("json_output", [True, False], ids=["output-as-JSON", "output-as-BASE64"])
def test_report_reads_what_the_emulator_captures(tmp_path, json_output: bool) -> None:
    settings = Settings(target="aws", bucket=BUCKET, endpoint_name="scones-ep")
    capture_config = endpoint_config_request(settings, "cfg", "model")["DataCaptureConfig"]
    if not json_output:  # without the JSON header the service (and the emulator) BASE64-encode the output
        capture_config = {k: v for k, v in capture_config.items() if k != "CaptureContentTypeHeader"}
    config = CaptureConfig.from_api(capture_config)
    assert config is not None
    images = [(png(10), 0), (png(120), 1), (png(240), 1)]
    outputs = [[0.96875, 0.03125], [0.5625, 0.4375], [0.015625, 0.984375]]
    t0 = dt.datetime(2025, 10, 4, 8, 59, 59, tzinfo=dt.UTC)

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(
            Bucket=BUCKET,
            Key="test.lst",
            Body="".join(f"{i}\t{label}\ttest/img{i}.png\n" for i, (_, label) in enumerate(images)),
        )
        for i, (data, _) in enumerate(images):
            s3.put_object(Bucket=BUCKET, Key=f"test/img{i}.png", Body=data)

        writer = CaptureWriter(tmp_path / "pending", flush_interval=0.05)
        try:
            for i, ((data, _), probs) in enumerate(zip(images, outputs, strict=True)):
                writer.submit(
                    Invocation(
                        endpoint="scones-ep",
                        variant="AllTraffic",
                        config=config,
                        input_body=data,
                        input_type="image/png",
                        output_body=json.dumps(probs).encode(),
                        output_type="application/json",
                        inference_id=None,
                        time=t0 + dt.timedelta(seconds=i),  # crosses an hour: two capture files
                    )
                )
            assert writer.flush(timeout=30)
        finally:
            writer.close()

        figures = build_report(
            settings, AwsTarget(settings=Settings(target="aws", region="us-east-1"))
        ).figures

    assert figures["files"] == 2
    assert figures["records"] == 3
    assert figures["corrupt_lines_skipped"] == 0
    assert (figures["passed"], figures["labelled"], figures["correct"]) == (2, 3, 2)
    assert figures["accuracy"] == 2 / 3
    assert figures["predicted_counts"] == {"bicycle": 2, "motorcycle": 1}
    assert figures["confusion_matrix"]["counts"] == [[1, 0], [1, 1]]
    assert (figures["first_inference"], figures["last_inference"]) == (
        "2025-10-04T08:59:59Z",
        "2025-10-04T09:00:01Z",
    )
