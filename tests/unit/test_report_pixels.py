"""Captured images are labelled by their decoded pixels, so re-encoded PNGs (as AWS captures hold) match."""

from __future__ import annotations

import io

import boto3
import matplotlib
import numpy as np
from PIL import Image

matplotlib.use("Agg")
from matplotlib import pyplot as plt

from harness.config import Settings
from harness.report import build_report
from harness.report.pixels import pixel_key
from harness.targets.aws import AwsTarget
from tests.support.capture import capture_line

BUCKET = "pixels"
ENDPOINT = "ep"


def staged_png(seed: int) -> tuple[bytes, np.ndarray]:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue(), pixels


def imsave_png(pixels: np.ndarray) -> bytes:
    """What public notebooks do before invoking the endpoint: matplotlib's imsave (RGBA, its own zlib)."""
    out = io.BytesIO()
    plt.imsave(out, pixels, format="png")
    return out.getvalue()


def test_a_matplotlib_reencoded_png_has_other_bytes_but_the_same_pixel_key() -> None:
    staged, pixels = staged_png(1)
    again = imsave_png(pixels)
    assert again != staged and Image.open(io.BytesIO(again)).mode == "RGBA"
    assert pixel_key(again) == pixel_key(staged) is not None
    assert pixel_key(imsave_png(staged_png(2)[1])) != pixel_key(staged)
    assert pixel_key(b"not an image") is None


def test_report_labels_reencoded_captures(aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    images = [staged_png(seed) for seed in range(4)]
    labels = [0, 1, 0, 1]
    s3.put_object(
        Bucket=BUCKET,
        Key="test.lst",
        Body="".join(f"{i}\t{c}\timg_{i}.png\n" for i, c in enumerate(labels)).encode(),
    )
    for i, (data, _) in enumerate(images):
        s3.put_object(Bucket=BUCKET, Key=f"test/img_{i}.png", Body=data)
    # Every capture holds a re-encoded image; predictions: right, right, wrong, right.
    probs = [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.05, 0.95]]
    lines = [
        capture_line(imsave_png(pixels), p, f"2025-10-04T08:44:1{i}Z")
        for i, ((_, pixels), p) in enumerate(zip(images, probs, strict=True))
    ]
    s3.put_object(
        Bucket=BUCKET,
        Key=f"data_capture/{ENDPOINT}/AllTraffic/2025/10/04/08/44-10-000-x.jsonl",
        Body="\n".join(lines).encode(),
    )
    settings = Settings(target="aws", bucket=BUCKET, endpoint_name=ENDPOINT)
    figures = build_report(settings, AwsTarget(settings=Settings(target="aws", region="us-east-1"))).figures
    assert figures["records"] == 4 and figures["labelled"] == 4
    assert figures["correct"] == 3 and figures["accuracy"] == 0.75


def test_pixels_are_decoded_only_for_inputs_whose_bytes_match_no_staged_image() -> None:
    import hashlib

    from harness.report.capture import parse_line

    staged, pixels = staged_png(3)
    known = {hashlib.sha256(staged).hexdigest()}
    same = parse_line(
        capture_line(staged, [0.9, 0.1], "2025-10-04T08:44:10Z"),
        endpoint="e",
        variant="v",
        source_key="k",
        known=known,
    )
    again = parse_line(
        capture_line(imsave_png(pixels), [0.9, 0.1], "2025-10-04T08:44:11Z"),
        endpoint="e",
        variant="v",
        source_key="k",
        known=known,
    )
    assert same.input_pixels is None and same.input_sha256 in known
    assert again.input_pixels == pixel_key(staged)
