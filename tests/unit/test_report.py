"""``harness report`` end to end over moto S3: a synthetic capture set whose figures are known exactly.

The set: 3 capture files (plain JSONL with one corrupt line, a gzip file, and a file in the
real service's documented shape with ``inferenceId``), 4 staged test images with ``test.lst``,
one captured image that is not a staged test image, plus files the report must ignore.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import threading
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws
from PIL import Image
from typer.testing import CliRunner

from harness.config import Settings
from harness.main import app
from harness.report import NoCaptureError, ReportError, build_report
from harness.report.plots import PLOTS
from harness.targets.aws import AwsTarget
from tests.support.capture import capture_line

SIZES = {plot.name: plot.size for plot in PLOTS}

BUCKET = "scones-test"
ENDPOINT = "ep"
PREFIX = f"data_capture/{ENDPOINT}/AllTraffic/2025/10/04"


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, format="PNG")
    return out.getvalue()


IMAGES = {  # staged name -> (bytes, class)
    "test/bicycle_a.png": (png((200, 0, 0)), 0),
    "test/bicycle_b.png": (png((0, 200, 0)), 0),
    "test/motorcycle_c.png": (png((0, 0, 200)), 1),
    "test/motorcycle_d.png": (png((200, 200, 0)), 1),
}
UNSTAGED = png((7, 7, 7))


def event(image: bytes, probs: list[float], when: str, *, base64_output: bool = False, **meta: str) -> str:
    return capture_line(image, probs, when, event_id=f"evt-{when}", base64_output=base64_output, **meta)


def img(name: str) -> bytes:
    return IMAGES[f"test/{name}.png"][0]


def stage(s3, data_prefix: str = "", *, bare_names: bool = True) -> None:
    # Staging writes list paths relative to the channel folder (``bicycle_a.png``), as the built-in
    # algorithm reads them; paths relative to the data prefix (``test/bicycle_a.png``) work too.
    lst = "".join(
        f"{i}\t{label}\t{name.removeprefix('test/') if bare_names else name}\n"
        for i, (name, (_, label)) in enumerate(IMAGES.items())
    )
    s3.put_object(Bucket=BUCKET, Key=f"{data_prefix}test.lst", Body=lst.encode())
    for name, (data, _) in IMAGES.items():
        s3.put_object(Bucket=BUCKET, Key=f"{data_prefix}{name}", Body=data)


def capture(s3) -> None:
    plain = [
        event(img("bicycle_a"), [0.953125, 0.046875], "2025-10-04T08:44:11Z"),  # true 0, pass, right
        event(img("bicycle_b"), [0.25, 0.75], "2025-10-04T08:44:12.5Z"),  # true 0, fail, wrong
        "{this line is corrupt",
        # true 1, pass, right; the output is BASE64-encoded
        event(img("motorcycle_c"), [0.0625, 0.9375], "2025-10-04T08:44:13Z", base64_output=True),
    ]
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/08/44-11-000-aaaa.jsonl", Body="\n".join(plain) + "\n")
    zipped = [
        event(img("motorcycle_d"), [0.875, 0.125], "2025-10-04T09:00:00Z"),  # true 1, fail, wrong
        event(UNSTAGED, [0.03125, 0.96875], "2025-10-04T09:00:01Z"),  # no label, pass
    ]
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{PREFIX}/09/00-00-000-bbbb.jsonl.gz",
        Body=gzip.compress("\n".join(zipped).encode()),
    )
    # The real service's documented shape: eventVersion, inferenceId, no trailing newline.
    real = event(img("bicycle_a"), [0.9921875, 0.0078125], "2025-10-04T10:15:00Z", inferenceId="req-42")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/10/15-00-000-cccc.jsonl", Body=real)
    # Must be ignored: not a capture file, and another endpoint whose name starts with ours.
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/10/notes.txt", Body=b"not a capture")
    other = event(img("bicycle_a"), [0.5, 0.5], "2025-10-04T11:00:00Z")
    s3.put_object(Bucket=BUCKET, Key="data_capture/ep-2/AllTraffic/2025/10/04/11/x.jsonl", Body=other)


def tradeoff_expected() -> dict:
    """Top confidences (correct?): .953125 (yes) .75 (no) .9375 (yes) .875 (no) .96875 (no label)
    .9921875 (yes); the grid runs from chance (0.5) to 1 every 0.01."""
    confidences = [0.953125, 0.75, 0.9375, 0.875, 0.96875, 0.9921875]
    correct = [True, False, True, False, None, True]
    thresholds = [round(0.5 + i / 100, 2) for i in range(51)]
    curve: dict = {"thresholds": thresholds, "pass_rate": [], "accuracy_of_passed": [], "labelled_passed": []}
    for t in thresholds:
        passing = [c for conf, c in zip(confidences, correct, strict=True) if conf >= t]
        labelled = [c for c in passing if c is not None]
        curve["pass_rate"].append(len(passing) / 6)
        curve["accuracy_of_passed"].append(sum(labelled) / len(labelled) if labelled else None)
        curve["labelled_passed"].append(len(labelled))
    curve["today"] = {"threshold": 0.93, "pass_rate": 4 / 6, "accuracy_of_passed": 1.0, "labelled_passed": 3}
    return curve


TRADEOFF = tradeoff_expected()
# Labelled (true, predicted): (0,0) (0,1) (1,1) (1,0) (0,0).
PER_CLASS = [
    {
        "class": "bicycle",
        "support": 3,
        "predicted": 3,
        "true_positives": 2,
        "precision": 2 / 3,
        "recall": 2 / 3,
    },
    {
        "class": "motorcycle",
        "support": 2,
        "predicted": 2,
        "true_positives": 1,
        "precision": 0.5,
        "recall": 0.5,
    },
]
EXPECTED = {
    "endpoint": ENDPOINT,
    "capture_uri": f"s3://{BUCKET}/data_capture/{ENDPOINT}/",
    "threshold": 0.93,
    "files": 3,
    "records": 6,
    "corrupt_lines_skipped": 1,
    "skip_reasons": {"not valid JSON": 1},
    "passed": 4,
    "failed": 2,
    "pass_rate": 4 / 6,
    "min_top_confidence": 0.75,
    "labelled": 5,
    "correct": 3,
    "accuracy": 0.6,
    "label_source": f"s3://{BUCKET}/test.lst",
    "staged_test_images": 4,
    "predicted_counts": {"bicycle": 3, "motorcycle": 3},
    "confusion_matrix": {
        "labels": ["bicycle", "motorcycle"],
        "rows": "true class",
        "columns": "predicted class",
        "counts": [[2, 1], [1, 1]],
    },
    "first_inference": "2025-10-04T08:44:11Z",
    "last_inference": "2025-10-04T10:15:00Z",
    "time_span_seconds": 5449.0,
    # bicycle_a is sent twice (08:44:11 and 10:15:00): 6 inferences of 5 distinct images.
    "distinct_images": 5,
    "distinct_labelled_images": 4,
    "repeated_inferences": 1,
    # Labelled (true, predicted): (0,0) (0,1) (1,1) (1,0) (0,0).
    "per_class": PER_CLASS,
    "threshold_tradeoff": TRADEOFF,
    # Steps 1.5, 0.5, 947, 1 and 4499 s: median 1.5 s, so the floor of 30 s separates bursts.
    "idle_gap_seconds": 30.0,
    "idle_gaps": [
        {"after": 2, "seconds": 947.0, "from": "2025-10-04T08:44:13Z", "to": "2025-10-04T09:00:00Z"},
        {"after": 4, "seconds": 4499.0, "from": "2025-10-04T09:00:01Z", "to": "2025-10-04T10:15:00Z"},
    ],
    # No endpoint config in this account captures here: every inference is "unknown", and the report says why.
    "endpoint_configs": [
        {
            "endpoint_config": "unknown",
            "models": ["unknown"],
            "variants": ["AllTraffic"],
            "config_created": None,
            "current": False,
            "first_inference": "2025-10-04T08:44:11Z",
            "last_inference": "2025-10-04T10:15:00Z",
            "inferences": 6,
            "distinct_images": 5,
            "pass_rate": 4 / 6,
            "labelled": 5,
            "accuracy": 0.6,
            "accuracy_of_passed": 1.0,
            "per_class": PER_CLASS,
        }
    ],
    "config_changes": [],
    "model_attribution": (
        f"no endpoint config capturing to s3://{BUCKET}/data_capture was found, "
        "so which model served is unknown"
    ),
}
MEAN_TOP = (0.953125 + 0.75 + 0.9375 + 0.875 + 0.96875 + 0.9921875) / 6


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(target="aws", bucket=BUCKET, endpoint_name=ENDPOINT, home=tmp_path / "home")


TARGET = AwsTarget(settings=Settings(target="aws", region="us-east-1"))


def check_figures(figures: dict) -> None:
    assert figures.pop("mean_top_confidence") == pytest.approx(MEAN_TOP, rel=1e-12)
    assert figures == EXPECTED


def test_figures_are_exact(aws, settings) -> None:
    stage(aws)
    capture(aws)
    result = build_report(settings, TARGET)
    check_figures(dict(result.figures))
    assert result.plots == {}  # nothing rendered when nothing is written


def test_frame_has_times_labels_and_predictions_in_time_order(aws, settings) -> None:
    stage(aws)
    capture(aws)
    frame = build_report(settings, TARGET).frame
    assert isinstance(frame["inference_time"].dtype, pd.DatetimeTZDtype)
    assert str(frame["inference_time"].dt.tz) == "UTC"
    assert frame["inference_time"].is_monotonic_increasing
    predicted = ["bicycle", "motorcycle", "motorcycle", "bicycle", "motorcycle", "bicycle"]
    assert list(frame["predicted_label"]) == predicted
    assert [None if pd.isna(v) else int(v) for v in frame["true_class"]] == [0, 0, 1, 1, None, 0]
    assert list(frame["passed"]) == [True, False, True, False, True, True]
    assert set(frame["variant"]) == {"AllTraffic"}
    assert set(frame["endpoint"]) == {ENDPOINT}
    assert frame["inference_id"].iloc[-1] == "req-42"
    assert frame["input_content_type"].iloc[0] == "image/png"
    assert frame["event_id"].iloc[0] == "evt-2025-10-04T08:44:11Z"


def test_threshold_comes_from_settings(aws, settings) -> None:
    stage(aws)
    capture(aws)
    figures = build_report(settings.replace(threshold=0.5), TARGET).figures
    assert (figures["threshold"], figures["passed"], figures["pass_rate"]) == (0.5, 6, 1.0)


def test_html_report_embeds_every_plot_at_its_size(aws, settings, tmp_path) -> None:
    stage(aws)
    capture(aws)
    out = tmp_path / "report"
    result = build_report(settings, TARGET, out)
    names = list(SIZES)
    assert list(result.plots) == names
    for name in names:
        path = out / f"{name}.png"
        with Image.open(path) as image:
            image.load()
            assert image.format == "PNG"
            assert image.size == SIZES[name], name
    html = (out / "index.html").read_text()
    embedded = html.count('src="data:image/png;base64,')
    assert embedded == len(names)
    for chunk in html.split('src="data:image/png;base64,')[1:]:
        with Image.open(io.BytesIO(base64.b64decode(chunk.split('"', 1)[0]))) as image:
            assert image.size in SIZES.values()
    assert "<script" not in html and "http://" not in html and "https://" not in html  # self-contained
    for shown in ("66.7%", "60.0%", "1 h 30 min", "Corrupt lines skipped", "not valid JSON"):
        assert shown in html
    check_figures(json.loads((out / "figures.json").read_text()))
    written = sorted(p.name for p in out.iterdir())  # no temporary files left behind
    assert written == sorted([*(f"{n}.png" for n in names), "figures.json", "index.html"])


def test_without_staged_labels_there_is_no_accuracy_and_no_confusion_matrix(aws, settings, tmp_path) -> None:
    capture(aws)
    result = build_report(settings, TARGET, tmp_path / "r")
    f = result.figures
    assert (f["labelled"], f["accuracy"], f["confusion_matrix"], f["label_source"]) == (0, None, None, None)
    assert "confusion_matrix" not in result.plots
    assert "no staged test set (test.lst) was found" in result.html_path.read_text()


def test_labels_follow_the_data_prefix_and_either_list_path_style(aws, settings) -> None:
    stage(aws, data_prefix="scones/", bare_names=False)
    capture(aws)
    figures = build_report(settings.replace(data_prefix="scones/"), TARGET).figures
    assert (figures["labelled"], figures["correct"]) == (5, 3)
    assert figures["label_source"] == f"s3://{BUCKET}/scones/test.lst"


def test_wait_for_records_that_arrive_late_then_report_what_is_there(aws, settings) -> None:
    stage(aws)
    late = threading.Timer(1.5, capture, args=(aws,))  # the capture lands after the report started
    late.start()
    try:
        figures = build_report(settings, TARGET, wait_for=6, timeout_s=60).figures
    finally:
        late.join()
    assert figures["records"] == 6
    # Asking for more than will ever come: after the timeout, the report covers what there is.
    assert build_report(settings, TARGET, wait_for=1000, timeout_s=1).figures["records"] == 6


def test_no_capture_is_a_clear_error(aws, settings) -> None:
    stage(aws)
    with pytest.raises(NoCaptureError, match=r"no capture yet for endpoint 'ep': no \.jsonl or \.jsonl\.gz"):
        build_report(settings, TARGET)
    with pytest.raises(NoCaptureError, match="bucket 'missing' does not exist"):
        build_report(settings.replace(bucket="missing"), TARGET)


def test_only_corrupt_lines_is_a_clear_error(aws, settings) -> None:
    aws.put_object(Bucket=BUCKET, Key=f"{PREFIX}/08/x.jsonl", Body=b"{bad\n[1]\n")
    expected = r"1 capture file\(s\) .* but no readable record: 2 line\(s\) skipped"
    with pytest.raises(ReportError, match=expected):
        build_report(settings, TARGET)


def cli(*args: str):
    return CliRunner().invoke(app, ["--target", "aws", "--bucket", BUCKET, *args])


def test_cli_json_prints_the_exact_figures(aws, settings) -> None:
    stage(aws)
    capture(aws)
    result = cli("report", "--format", "json", "--endpoint", ENDPOINT)
    assert result.exit_code == 0, result.output
    check_figures(json.loads(result.stdout))


def test_cli_json_with_out_also_writes_the_report_and_lists_the_files(aws, tmp_path) -> None:
    stage(aws)
    capture(aws)
    out = tmp_path / "j"
    result = cli("report", "--format", "json", "--out", str(out), "--endpoint", ENDPOINT)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    files = payload.pop("written")
    check_figures(payload)
    assert files["html"] == str(out / "index.html") and (out / "index.html").is_file()
    assert sorted(files) == sorted([*SIZES, "figures", "html"])


def test_cli_html_writes_the_report_and_prints_its_path(aws, tmp_path) -> None:
    stage(aws)
    capture(aws)
    out = tmp_path / "out"
    result = cli("report", "--out", str(out), "--endpoint", ENDPOINT)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "index.html")
    assert (out / "index.html").stat().st_size > 50_000  # five embedded PNGs


def test_cli_without_capture_fails_with_one_line(aws) -> None:
    result = cli("report", "--endpoint", "nothing-here", "--format", "json")
    assert result.exit_code == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("error: no capture yet for endpoint 'nothing-here'")
    assert "\n" not in message and "Traceback" not in result.stderr
