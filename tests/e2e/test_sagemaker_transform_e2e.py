"""Batch transform with SageMaker SDK v2 on the embedded cloud, configured only by `harness env`.

``estimator.transformer(...).transform(data=<s3 prefix>, content_type="image/png")`` as a user writes
it (tests/e2e/notebooks/transform_v2.py), every SageMaker response checked against botocore's output
shape. AWS behaviour asserted ("Use batch transform to run inference with Amazon SageMaker AI"): one
``<input name>.out`` object per input object under the output path, holding the model's response for
that object, i.e. what the endpoint answers for the same image.
"""

from __future__ import annotations

import uuid
from importlib import metadata

import pytest

from harness.config import Settings
from tests.e2e.notebook_support import harness, harness_env, replay, user_env
from tests.support.cifar import separable_batch, write_tarball

pytestmark = pytest.mark.e2e

sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker Python SDK is a dev dependency")
if int(metadata.version("sagemaker").split(".")[0]) != 2:
    pytest.skip(
        f"SDK v2 replay; this environment has sagemaker {metadata.version('sagemaker')}",
        allow_module_level=True,
    )


def test_sdk_v2_transformer_writes_one_out_per_image_equal_to_the_endpoint(
    embedded_cloud: Settings, tmp_path
) -> None:
    settings = embedded_cloud.replace(bucket=f"transform-v2-{uuid.uuid4().hex[:6]}")
    tarball = write_tarball(
        tmp_path / "tiny.tar.gz",
        train=separable_batch(32, "train", seed=5),
        test=separable_batch(6, "test", seed=6),
    )
    harness(settings, "stage", "--dataset", str(tarball))
    env = user_env(harness_env(settings), tmp_path / "home", NUM_TRAINING_SAMPLES="64", EPOCHS="1")
    result = replay("transform_v2.py", env, tmp_path)
    out = result["notebook"]
    assert out["inputs"], "harness stage put the test images under test/"
    assert out["outputs"] == sorted(f"batch_out/{key.split('/', 1)[1]}.out" for key in out["inputs"])
    for key, online, batch in out["pairs"]:
        assert batch == pytest.approx(online, abs=1e-6), key
    # The built-in's metrics (AWS: "Tune an Image Classification Model") are in FinalMetricDataList.
    assert set(out["metrics"]) == {"train:accuracy", "validation:accuracy"}
    responses = result["responses"]
    assert not responses["problems"], responses["problems"]
    assert responses["checked"].get("sagemaker.DescribeTransformJob"), responses["checked"]
