"""The ``embedded_cloud`` session fixture every e2e test builds on.

By default it starts the whole embedded cloud (LocalStack + SageMaker emulator) once per session, on
free ports and with its state in a temporary folder, so it never clashes with a stack a developer
already runs on 4566; it stops it (by PID) at the end. When ``AWS_ENDPOINT_URL`` is set, it uses the
cloud found there instead (for example ``docker compose up``) and neither starts nor stops anything.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from harness.config import Settings, load_settings
from harness.emulator import stack
from harness.emulator.process import is_healthy


def free_ports(count: int) -> list[int]:
    """Distinct ports that were free a moment ago (all held open together, so none repeats)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _port_of(url: str, name: str) -> int:
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
        pytest.fail(f"{name}={url!r}: the e2e tests expect http://127.0.0.1:<port> (or localhost)")
    return parsed.port


@pytest.fixture(scope="session")
def embedded_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings whose ``target_for(settings)`` reaches a running embedded cloud."""
    external = os.environ.get("AWS_ENDPOINT_URL")
    if external:
        settings = load_settings().replace(localstack_port=_port_of(external, "AWS_ENDPOINT_URL"))
        sagemaker = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER")
        if sagemaker:
            settings = settings.replace(sagemaker_port=_port_of(sagemaker, "AWS_ENDPOINT_URL_SAGEMAKER"))
        if settings.target == "aws":
            settings = settings.replace(target="local")
        if not is_healthy(f"{external.rstrip('/')}/_localstack/health", timeout=5):
            pytest.fail(f"AWS_ENDPOINT_URL={external} is set but LocalStack does not answer its health check")
        yield settings
        return

    localstack_port, sagemaker_port = free_ports(2)
    settings = load_settings().replace(
        target="local",
        home=tmp_path_factory.mktemp("embedded-cloud"),
        localstack_port=localstack_port,
        sagemaker_port=sagemaker_port,
    )
    stack.up(settings)
    try:
        yield settings
    finally:
        stack.down(settings)
