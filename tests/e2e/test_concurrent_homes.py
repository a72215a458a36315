"""Clouds on one machine are independent: four LocalStacks (four homes) started at the same moment.

LocalStack 4.9.2 rewrites its TLS certificate at every start; at its default, machine-wide place two
starts at once read each other's half-written file (issue 24: 1 start in 4 failed with
``OpenSSL.SSL.Error ... no start line``). Each home now has its own (``CUSTOM_SSL_CERT_PATH``).
Only the LocalStack processes are started (no emulator), each stopped by its pid.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.config import load_settings
from harness.embedded import localstack
from harness.embedded.process import ServiceRecord, free_ports, spawn, stop, wait_healthy

pytestmark = pytest.mark.e2e

CLOUDS = 4


def _start(home: Path, port: int, python: Path) -> ServiceRecord:
    settings = load_settings().replace(home=home, localstack_port=port)
    spec = localstack.launch_spec(settings, python)
    for sub in ("tmp", "volume", "s3-storage"):
        (spec.state_dir / sub).mkdir(parents=True, exist_ok=True)
    return spawn(
        "localstack",
        spec.cmd,
        env=spec.env,
        cwd=spec.state_dir,
        log_path=spec.state_dir / "localstack.log",
        pid_path=spec.state_dir / "localstack.pid.json",
        url=spec.url,
        health_url=spec.health_url,
    )


def test_four_homes_started_at_once_are_all_healthy_with_their_own_certificates(tmp_path: Path) -> None:
    python = localstack.ensure_venv(load_settings())
    homes = [tmp_path / f"home{i}" for i in range(CLOUDS)]
    ports = free_ports(CLOUDS)
    with ThreadPoolExecutor(CLOUDS) as pool:  # the same moment, as four `harness up` would
        records = list(pool.map(lambda hp: _start(hp[0], hp[1], python), zip(homes, ports, strict=True)))
    try:
        with ThreadPoolExecutor(CLOUDS) as pool:
            list(
                pool.map(lambda r: wait_healthy(r, 180), records)
            )  # ServiceError names the first that failed
        for home in homes:
            pem = (home / "localstack" / "server.test.pem").read_text()
            assert "BEGIN CERTIFICATE" in pem and "PRIVATE KEY" in pem
    finally:
        for record in records:
            stop(record)
