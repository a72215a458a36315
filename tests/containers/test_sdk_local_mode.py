"""SageMaker SDK local mode trains and serves the project's image, as a user's notebook would.

``Estimator(instance_type='local')`` runs ``scones-training:latest train`` through docker compose (the
SDK's own compose file), ``deploy(instance_type='local')`` runs ``serve``, and ``predict`` posts a real
PNG of the mini dataset. Local mode mounts a ``file://`` channel's folder, so each ``.lst`` manifest is
in a folder of its own (``file://.../train.lst`` would mount the whole data folder): see training/README.md.
The SDK's telemetry calls to AWS fail here (no internet) and are only logged by the SDK.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import boto3

from harness.cifar import read_archive
from harness.config import Settings
from harness.model import hyperparameters
from harness.staging import build_dataset, write_tree
from tests.containers.conftest import TRAINING_IMAGE, require_image


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _channels(mini_dataset: Path, data: Path) -> dict[str, str]:
    write_tree(build_dataset(read_archive(mini_dataset)), data)
    for channel, manifest in (("train_lst", "train.lst"), ("validation_lst", "test.lst")):
        (data / channel).mkdir()
        shutil.move(data / manifest, data / channel / manifest)
    return {
        "train": f"file://{data / 'train'}",
        "validation": f"file://{data / 'test'}",
        "train_lst": f"file://{data / 'train_lst'}",
        "validation_lst": f"file://{data / 'validation_lst'}",
    }


def test_estimator_fit_deploy_and_predict_in_local_mode(
    docker_client, tmp_path: Path, mini_dataset: Path
) -> None:
    require_image(docker_client, TRAINING_IMAGE)
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.local import LocalSession
    from sagemaker.serializers import IdentitySerializer

    channels = _channels(mini_dataset, tmp_path / "data")
    before = {c.id for c in docker_client.containers.list(all=True)}
    networks_before = {n.name for n in docker_client.networks.list()}
    session = LocalSession(
        boto_session=boto3.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
    )
    port = _free_port()
    session.config = {
        "local": {"local_code": True, "container_root": str(tmp_path / "root"), "serving_port": port}
    }
    (tmp_path / "root").mkdir()
    estimator = Estimator(
        image_uri=TRAINING_IMAGE,
        role="arn:aws:iam::000000000000:role/SconesSageMakerRole",
        instance_count=1,
        instance_type="local",
        output_path=f"file://{tmp_path / 'output'}",
        hyperparameters=hyperparameters(Settings(epochs=1), num_training_samples=1000),
        sagemaker_session=session,
    )
    estimator.fit(channels, logs=False)
    assert estimator.model_data.startswith("file://") and Path(estimator.model_data[7:]).is_file()

    predictor = estimator.deploy(
        initial_instance_count=1,
        instance_type="local",
        serializer=IdentitySerializer("image/png"),
        deserializer=JSONDeserializer(),
    )
    try:
        png = next((tmp_path / "data" / "test").glob("*.png")).read_bytes()
        probabilities = predictor.predict(png)
    finally:
        predictor.delete_endpoint()
    assert len(probabilities) == 2 and abs(sum(probabilities) - 1.0) < 1e-3, probabilities
    # delete_endpoint stops the serving container; the SDK leaves its exited training container behind
    # (it runs `compose up --abort-on-container-exit` and never `down`): this test removes what it made.
    mine = [
        c
        for c in docker_client.containers.list(all=True, filters={"ancestor": TRAINING_IMAGE})
        if "algo-1" in c.name and c.id not in before
    ]
    assert mine, "local mode ran no container of the project's image"
    try:
        assert [c.name for c in mine if c.status == "running"] == [], "delete_endpoint must stop serving"
    finally:
        for container in mine:
            container.remove(force=True)
        for network in docker_client.networks.list(names=["sagemaker-local"]):  # the SDK's fixed name
            if network.name not in networks_before:
                network.remove()
