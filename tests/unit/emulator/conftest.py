"""Fixtures of the SageMaker emulator tests: moto's S3/Logs server and the emulator, both real HTTP
servers on 127.0.0.1, driven with plain boto3 (helpers: support.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

pytest.register_assert_rewrite("tests.unit.emulator.support")

from tests.unit.emulator.support import CREDS, Emulator, image_map  # noqa: E402 - after the rewrite hook


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(moto_url: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_url, **CREDS)


@pytest.fixture(scope="session")
def logs(moto_url: str) -> Any:
    return boto3.client("logs", endpoint_url=moto_url, **CREDS)


@pytest.fixture(scope="session")
def bucket(s3: Any) -> str:
    name = f"emulator-tests-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def emulator_factory(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start extra emulators (own state folder, own flags); all are stopped at the end."""
    started: list[Emulator] = []
    imap = image_map(tmp_path_factory.mktemp("imap"))

    def make(*extra: str, state_dir: Path | None = None, wrap: Sequence[str] = ()) -> Emulator:
        state = state_dir or tmp_path_factory.mktemp("state") / "sagemaker"
        emu = Emulator(state, moto_url, imap, *extra, wrap=wrap).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def emulator(emulator_factory: Any) -> Emulator:
    return emulator_factory(
        "--capture-flush-seconds",
        "0.5",
        "--ping-timeout",
        "5",
        "--stop-grace",
        "3",
        "--max-training-jobs",
        "8",
        "--max-endpoints",
        "50",
    )


@pytest.fixture(scope="session")
def sm(emulator: Emulator) -> Any:
    return emulator.client("sagemaker")


@pytest.fixture(scope="session")
def smr(emulator: Emulator) -> Any:
    return emulator.client("sagemaker-runtime")
