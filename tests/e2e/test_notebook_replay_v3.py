"""The Scones Unlimited notebook on SageMaker Python SDK v3, configured only by `harness env`.

v2 and v3 cannot share one environment (both are the ``sagemaker`` distribution), so this module runs in
``tox -e sdk3`` and skips, saying so, where v2 is installed; ``test_notebook_replay_v2.py`` is the v2 half.
Every SageMaker response is checked against botocore's output shape, as in the v2 replay.
"""

from __future__ import annotations

import uuid
from importlib import metadata

import pytest

from harness.config import Settings
from tests.e2e.notebook_support import stage_and_replay

pytestmark = pytest.mark.e2e

sagemaker = pytest.importorskip(
    "sagemaker", reason="the SageMaker Python SDK v3 is installed by `tox -e sdk3`"
)
if int(metadata.version("sagemaker").split(".")[0]) < 3:
    pytest.skip(
        f"SDK v3 replay; this environment has sagemaker {metadata.version('sagemaker')} (run `tox -e sdk3`)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def notebook(embedded_cloud: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("notebook-v3")
    settings = embedded_cloud.replace(bucket=f"notebook-v3-{uuid.uuid4().hex[:6]}")
    return stage_and_replay(settings, tmp, "scones_v3.py")


def test_the_v3_notebook_trains_deploys_invokes_and_reads_its_capture(notebook: dict) -> None:
    out = notebook["notebook"]
    assert out["image"].endswith("/image-classification:1")
    assert out["job_status"] == "Completed"
    assert (
        out["model_data"] == f"s3://{notebook['settings'].bucket}/scones-v3/{out['job']}/output/model.tar.gz"
    )
    probs = out["inference"]
    assert len(probs) == 2 and sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert probs[0] > probs[1], "test_000000 is a (reddish) bicycle"
    assert out["records"], "the capture should be readable with the SDK's S3Downloader + jsonlines"
    captured, inference_time, content_type = out["records"][0]
    assert captured == pytest.approx(probs) and content_type == "image/png" and inference_time.endswith("Z")


def test_every_sagemaker_response_matches_botocores_output_shape(notebook: dict) -> None:
    checked = notebook["responses"]["checked"]
    for operation in (
        "sagemaker.CreateTrainingJob",
        "sagemaker.DescribeTrainingJob",
        "sagemaker.CreateModel",
        "sagemaker.CreateEndpointConfig",
        "sagemaker.CreateEndpoint",
        "sagemaker.DescribeEndpoint",
        "sagemaker-runtime.InvokeEndpoint",
    ):
        assert checked.get(operation), (operation, checked)
    assert notebook["responses"]["problems"] == []
