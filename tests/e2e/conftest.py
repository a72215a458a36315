"""The ``embedded_cloud`` session fixture every e2e test builds on.

By default it starts the whole embedded cloud (LocalStack + SageMaker emulator) once per session, on
free ports and with its state in ``.harness/e2e/session-<pid>/``, so it never clashes with a stack a
developer already runs on 4566 nor with another test session; it stops it (by PID) at the end. A
killed run leaves its pid files there: ``harness --home .harness/e2e/session-<pid> down`` cleans up.
When ``AWS_ENDPOINT_URL`` is set, it uses the cloud found there instead (for example
``docker compose up``) and neither starts nor stops anything.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from harness.config import Settings, load_settings
from harness.embedded import stack
from harness.embedded.process import free_ports, is_healthy

E2E_HOMES = Path(__file__).resolve().parents[2] / ".harness" / "e2e"


def _port_of(url: str, name: str) -> int:
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
        pytest.fail(f"{name}={url!r}: the e2e tests expect http://127.0.0.1:<port> (or localhost)")
    return parsed.port


@pytest.fixture(scope="session")
def embedded_cloud() -> Iterator[Settings]:
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
    home = E2E_HOMES / f"session-{os.getpid()}"
    settings = load_settings().replace(
        target="local", home=home, localstack_port=localstack_port, sagemaker_port=sagemaker_port
    )
    stack.up(settings)
    try:
        yield settings
    finally:
        stack.down(settings)
    shutil.rmtree(home, ignore_errors=True)  # kept (with its logs) only when stopping failed
