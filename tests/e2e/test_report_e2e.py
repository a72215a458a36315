"""The report reads what the SageMaker emulator captured during a real workflow run.

Real everything: LocalStack S3/Lambda/Step Functions, the emulator's endpoint with data capture,
the three Lambdas (the serializer sends the staged PNG bytes, which is how the report finds
each input's true label), then ``harness report`` over LocalStack S3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from harness.config import Settings
from harness.report import build_report
from harness.report.plots import PLOTS
from harness.targets.registry import target_for
from harness.workflow import RunOptions, run

SIZES = {plot.name: plot.size for plot in PLOTS}

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar-100-mini.tar.gz"
EXECUTIONS = 12

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(not DATASET.is_file(), reason=f"needs the real mini CIFAR-100 tarball at {DATASET}")
def test_report_of_a_workflow_run(embedded_cloud: Settings, tmp_path: Path) -> None:
    # Own bucket and endpoint, so other e2e tests' traffic never lands in this capture.
    settings = embedded_cloud.replace(bucket="report-e2e", endpoint_name="report-e2e", epochs=2)
    result = run(target_for(settings), RunOptions(dataset=str(DATASET), executions=EXECUTIONS, concurrency=4))
    assert result.summary["executions"] == EXECUTIONS

    out = tmp_path / "report"
    report = build_report(settings, target_for(settings), out, wait_for=EXECUTIONS, timeout_s=60)
    figures = report.figures

    # One capture record per endpoint invocation, each input a staged test image, so all labelled.
    assert figures["records"] == EXECUTIONS, figures
    assert figures["corrupt_lines_skipped"] == 0
    assert figures["labelled"] == EXECUTIONS
    assert figures["staged_test_images"] == 200
    # The filter Lambda passes exactly the inferences the report counts as passed.
    assert figures["passed"] == result.summary["succeeded"]
    assert figures["pass_rate"] == result.summary["succeeded"] / EXECUTIONS
    assert sum(figures["predicted_counts"].values()) == EXECUTIONS
    assert sum(map(sum, figures["confusion_matrix"]["counts"])) == EXECUTIONS
    assert set(report.frame["variant"]) == {"AllTraffic"}
    assert set(report.frame["input_content_type"]) == {"image/png"}
    # Which model served, from the emulator's ListEndpointConfigs / DescribeEndpointConfig: the config the
    # run deployed (and still DescribeEndpoint's), for every inference.
    sm = target_for(settings).client("sagemaker")
    deployed = sm.describe_endpoint(EndpointName=settings.endpoint_name)["EndpointConfigName"]
    assert set(report.frame["endpoint_config"]) == {deployed}, figures["model_attribution"]
    assert [(row["endpoint_config"], row["current"]) for row in figures["endpoint_configs"]] == [
        (deployed, True)
    ]
    assert figures["distinct_images"] == EXECUTIONS  # one execution per distinct test image

    for name, size in SIZES.items():
        with Image.open(out / f"{name}.png") as image:
            assert image.size == size
    assert json.loads((out / "figures.json").read_text()) == figures
    assert (out / "index.html").read_text().count("data:image/png;base64,") == len(SIZES)
