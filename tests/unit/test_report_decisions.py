"""What a data scientist acts on (issue 26 item 5): which endpoint config / model served each inference,
the threshold trade-off and per-class figures at known points, and plots over inference order whose
rolling line breaks at idle gaps and config changes.

The two-model run mimics ``--pipeline stepfunctions`` redeploying: config ``cfg-a`` (model ``m-a``) is
created, a burst is captured, ``cfg-b`` (model ``m-b``) is created and the endpoint updated to it, then a
second burst minutes later. A config capturing elsewhere and one serving another endpoint must be
ignored. moto sets CreationTime to the wall clock, so capture times are placed relative to the configs'
real CreationTime.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from matplotlib.axes import Axes
from PIL import Image

from harness.report import build_report
from harness.report.deployments import ConfigChange, History, load_history, served_by
from harness.report.metrics import idle_gaps, segment_ids, tradeoff_at
from harness.report.sequence import broken_rolling
from tests.support.capture import capture_line
from tests.unit.test_report import BUCKET, ENDPOINT, IMAGES, TARGET, aws, capture, img, settings, stage

__all__ = ["aws", "settings"]  # fixtures used by name
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def create_config(sm, name: str, model: str, destination: str) -> dt.datetime:
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img"})
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    return sm.describe_endpoint_config(EndpointConfigName=name)["CreationTime"].astimezone(dt.UTC)


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def two_model_run(s3) -> tuple[dt.datetime, dt.datetime]:
    """cfg-a serves 3 inferences, cfg-b (current) 3 inferences 5 minutes later; returns both creations."""
    sm = TARGET.client("sagemaker")
    destination = f"s3://{BUCKET}/data_capture"
    created_a = create_config(sm, "cfg-a", "m-a", destination)
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="cfg-a")
    create_config(sm, "elsewhere", "m-x", f"s3://{BUCKET}/other_capture")  # not this capture: ignored
    # Another endpoint capturing to the same destination (its lines go under its own name): ignored.
    create_config(sm, "cfg-other", "m-o", destination)
    sm.create_endpoint(EndpointName="ep-other", EndpointConfigName="cfg-other")
    time.sleep(1.1)  # CreationTime has millisecond precision; keep the two apart and ordered
    created_b = create_config(sm, "cfg-b", "m-b", destination + "/")  # a trailing slash is the same place
    # moto has no UpdateEndpoint; recreating the endpoint leaves DescribeEndpoint naming cfg-b, as an
    # update would.
    sm.delete_endpoint(EndpointName=ENDPOINT)
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="cfg-b")
    assert created_a < created_b
    first = created_a + (created_b - created_a) / 4
    burst_a = [first + dt.timedelta(milliseconds=100 * i) for i in range(3)]
    burst_b = [created_b + dt.timedelta(minutes=5, milliseconds=100 * i) for i in range(3)]
    names = ["bicycle_a", "motorcycle_c", "bicycle_a"]
    lines = [
        capture_line(img(n), [0.96, 0.04] if n.startswith("b") else [0.6, 0.4], stamp(t))
        for n, t in zip(names, burst_a, strict=True)
    ]
    # Model b is better on motorcycles: right and confident on the same images.
    lines += [
        capture_line(img(n), [0.97, 0.03] if n.startswith("b") else [0.01, 0.99], stamp(t))
        for n, t in zip(names, burst_b, strict=True)
    ]
    hour = f"data_capture/{ENDPOINT}/AllTraffic/{first:%Y/%m/%d/%H}"
    s3.put_object(Bucket=BUCKET, Key=f"{hour}/a.jsonl", Body="\n".join(lines[:3]) + "\n")
    s3.put_object(
        Bucket=BUCKET,
        Key=f"data_capture/{ENDPOINT}/AllTraffic/{burst_b[0]:%Y/%m/%d/%H}/b.jsonl",
        Body="\n".join(lines[3:]),
    )
    return created_a, created_b


def test_each_inference_is_marked_with_the_config_and_model_that_served(aws, settings, tmp_path) -> None:
    stage(aws)
    two_model_run(aws)
    result = build_report(settings, TARGET, tmp_path / "r")
    frame, f = result.frame, result.figures
    assert list(frame["endpoint_config"]) == ["cfg-a"] * 3 + ["cfg-b"] * 3
    assert list(frame["model"]) == ["m-a"] * 3 + ["m-b"] * 3
    assert [c["endpoint_config"] for c in f["config_changes"]] == ["cfg-a", "cfg-b"]
    rows = {row["endpoint_config"]: row for row in f["endpoint_configs"]}
    assert set(rows) == {
        "cfg-a",
        "cfg-b",
    }  # "elsewhere" captures to another prefix, "cfg-other" serves ep-other
    assert (rows["cfg-a"]["current"], rows["cfg-b"]["current"]) == (False, True)
    assert (rows["cfg-a"]["models"], rows["cfg-b"]["models"]) == (["m-a"], ["m-b"])
    # Each model's own figures, not a mix: a calls the motorcycle a bicycle (unsure), b is right on all 3.
    assert (rows["cfg-a"]["accuracy"], rows["cfg-b"]["accuracy"]) == (2 / 3, 1.0)
    assert (rows["cfg-a"]["pass_rate"], rows["cfg-b"]["pass_rate"]) == (2 / 3, 1.0)
    assert (rows["cfg-a"]["accuracy_of_passed"], rows["cfg-b"]["accuracy_of_passed"]) == (1.0, 1.0)
    assert (rows["cfg-a"]["distinct_images"], rows["cfg-a"]["inferences"]) == (2, 3)
    # Per class, per model: a never says motorcycle (precision undefined, recall 0); b is right on both.
    pr = {c: [(r["precision"], r["recall"]) for r in rows[c]["per_class"]] for c in rows}
    assert pr == {"cfg-a": [(2 / 3, 1.0), (None, 0.0)], "cfg-b": [(1.0, 1.0), (1.0, 1.0)]}
    assert f["model_attribution"].startswith("Capture lines do not name the model")
    html = result.html_path.read_text()
    for shown in ("Which model served", "cfg-a", "cfg-b (current)", "m-b", "The endpoint changed model"):
        assert shown in html
    # The rolling line breaks at the config change and at the 5-minute gap (here the same place).
    assert f["idle_gaps"][0]["after"] == 2


def test_attribution_follows_creation_time() -> None:
    t = pd.Timestamp("2025-10-04T09:00:00Z")
    history = History(
        changes=[
            ConfigChange("old", t.to_pydatetime(), {"AllTraffic": "m-old"}),
            ConfigChange(
                "new", (t + pd.Timedelta(minutes=10)).to_pydatetime(), {"AllTraffic": "m-new", "B": "m-b"}
            ),
        ]
    )
    times = pd.Series(
        [t - pd.Timedelta(seconds=1), t, t + pd.Timedelta(minutes=9), t + pd.Timedelta(minutes=10)]
    )
    configs, models = served_by(times, pd.Series(["AllTraffic", "AllTraffic", "AllTraffic", "B"]), history)
    assert configs == ["unknown", "old", "old", "new"]  # before any known config: not guessed
    assert models == ["unknown", "m-old", "m-old", "m-b"]  # the variant's own model


def test_no_sagemaker_history_is_said_not_guessed(aws, settings) -> None:
    stage(aws)
    capture(aws)
    f = build_report(settings, TARGET).figures
    assert f["config_changes"] == [] and [r["endpoint_config"] for r in f["endpoint_configs"]] == ["unknown"]
    assert "which model served is unknown" in f["model_attribution"]


def test_tradeoff_at_known_thresholds(aws, settings) -> None:
    stage(aws)
    capture(aws)
    result = build_report(settings, TARGET)
    curve = result.figures["threshold_tradeoff"]
    at = dict(
        zip(
            curve["thresholds"],
            zip(curve["pass_rate"], curve["accuracy_of_passed"], strict=True),
            strict=True,
        )
    )
    # Passing at 0.80: .953 (right) .9375 (right) .875 (wrong) .96875 (no label) .992 (right).
    assert at[0.8] == (5 / 6, 3 / 4)
    assert at[0.95] == (3 / 6, 1.0)  # .953, .96875, .992
    assert at[1.0] == (0.0, None)  # nothing passes: accuracy undefined, not 0
    assert at[0.5] == (1.0, 3 / 5)
    assert at[0.75] == (1.0, 3 / 5)  # a confidence equal to the threshold passes, as in the workflow
    assert curve["today"]["accuracy_of_passed"] == 1.0 and curve["today"]["threshold"] == 0.93
    assert tradeoff_at(result.frame, [0.93])["pass_rate"] == [result.figures["pass_rate"]]


def test_rolling_line_breaks_at_idle_gaps_and_restarts(aws, settings) -> None:
    stage(aws)
    capture(aws)
    frame = build_report(settings, TARGET).frame
    # Bursts: 08:44:11-13 (3), 09:00:00-01 (2), 10:15:00 (1).
    assert [g["after"] for g in idle_gaps(frame)] == [2, 4]
    assert list(segment_ids(frame)) == [0, 0, 0, 1, 1, 2]
    xs, ys = broken_rolling(frame, window=3)
    breaks = np.flatnonzero(np.isnan(ys))
    assert list(xs[breaks]) == [2.5, 4.5]  # a gap in the line exactly at each idle gap
    drawn = ~np.isnan(ys)
    # No drawn segment of the line joins points on both sides of a gap.
    for a, b in zip(xs[:-1][drawn[:-1] & drawn[1:]], xs[1:][drawn[:-1] & drawn[1:]], strict=True):
        assert not (a < 2.5 < b or a < 4.5 < b)
    conf = frame["top_confidence"].to_numpy()
    # The mean restarts after a gap: the first point of burst 2 is its own confidence, not mixed with burst 1.
    assert ys[list(xs).index(3.0)] == pytest.approx(conf[3])
    assert ys[list(xs).index(4.0)] == pytest.approx((conf[3] + conf[4]) / 2)


def test_distinct_images_count_a_re_encoded_image_once(aws, settings) -> None:
    stage(aws)
    data, _ = IMAGES["test/bicycle_a.png"]
    again = io.BytesIO()
    Image.open(io.BytesIO(data)).save(again, format="PNG", compress_level=0)  # same pixels, other bytes
    assert again.getvalue() != data
    lines = [
        capture_line(data, [0.9, 0.1], "2025-10-04T08:00:00Z"),
        capture_line(again.getvalue(), [0.9, 0.1], "2025-10-04T08:00:01Z"),
    ]
    aws.put_object(
        Bucket=BUCKET, Key=f"data_capture/{ENDPOINT}/AllTraffic/2025/10/04/08/x.jsonl", Body="\n".join(lines)
    )
    f = build_report(settings, TARGET).figures
    assert (f["records"], f["distinct_images"], f["repeated_inferences"]) == (2, 1, 1)


def test_two_model_report_renders(aws, settings, tmp_path: Path) -> None:
    stage(aws)
    two_model_run(aws)
    out = tmp_path / "two"
    result = build_report(settings, TARGET, out)
    assert {"threshold_tradeoff", "per_class", "confidence_over_time", "rolling_confidence"} <= set(
        result.plots
    )
    for name in result.plots:
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG"


def test_the_drawn_rolling_line_is_the_broken_one(aws, settings, monkeypatch) -> None:
    """What the rolling plot draws, not only what the helper computes: NaN (a break) at each idle gap."""
    stage(aws)
    capture(aws)
    drawn: list[tuple[np.ndarray, np.ndarray]] = []
    original = Axes.plot

    def spy(self, *args, **kwargs):
        drawn.append((np.asarray(args[0], float), np.asarray(args[1], float)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    plots = build_report(settings, TARGET, render=True).plots
    assert "rolling_confidence" in plots
    lines = [
        (x, y) for x, y in drawn if len(x) == 8
    ]  # 6 points and 2 breaks; the trade-off curves are longer
    assert len(lines) == 1
    x, y = lines[0]
    assert list(x[np.isnan(y)]) == [2.5, 4.5]


def test_a_refused_config_history_is_named_not_raised() -> None:
    """A role without sagemaker:ListEndpointConfigs still gets its report, and the report says why the
    model marking is missing (AccessDeniedException: the error code IAM denials carry, AWS API reference
    "Common Errors")."""

    class Refusing:
        def describe_endpoint(self, **_kwargs):
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "DescribeEndpoint"
            )

    t = dt.datetime(2025, 10, 4, tzinfo=dt.UTC)
    history = load_history(Refusing(), "ep", "s3://b/data_capture", t, t)
    assert history.changes == []
    assert "could not be read" in history.problem and "AccessDeniedException" in history.problem
