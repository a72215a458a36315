"""The whole embedded cloud: LocalStack plus the SageMaker emulator, as background services.

``up`` is idempotent: a service this harness home already runs is reused; a port held by anything else
is an error rather than a silent second instance. State, temp files, logs and pid files live under
``settings.home`` (one folder per service), so two homes with different ports never interfere.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from harness.config import Settings
from harness.emulator import localstack
from harness.emulator.process import (
    ServiceError,
    ServiceRecord,
    is_healthy,
    is_running,
    port_in_use,
    spawn,
    stop,
    wait_healthy,
)
from harness.targets import target_for

SAGEMAKER_MODULE = "harness.emulator.sagemaker"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ServiceStatus:
    """One service as ``harness status`` reports it."""

    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    note: str = ""
    ready_s: float | None = None  # seconds from spawn (or reuse) to healthy, when ``up`` measured it


def service_dir(settings: Settings, name: str) -> Path:
    return settings.home.expanduser().resolve() / name


def pid_path(settings: Settings, name: str) -> Path:
    return service_dir(settings, name) / f"{name}.pid.json"


def sagemaker_available() -> bool:
    return importlib.util.find_spec(SAGEMAKER_MODULE) is not None


def up(settings: Settings, console: Console | None = None, timeout: float = READY_TIMEOUT_S) -> list[ServiceStatus]:
    """Start (or reuse) every service and wait until each answers its health check."""
    console = console or Console(stderr=True)
    python = localstack.ensure_venv(settings, console)  # slow only on the first run
    ls = localstack.launch_spec(settings, python)
    statuses = [
        _ensure(
            settings,
            "localstack",
            ls.url,
            ls.health_url,
            settings.localstack_port,
            lambda log, pids: _spawn_localstack(ls, log, pids),
            timeout,
        )
    ]
    sm_url = f"http://127.0.0.1:{settings.sagemaker_port}"
    if sagemaker_available():
        statuses.append(
            _ensure(
                settings,
                "sagemaker",
                sm_url,
                f"{sm_url}/_emulator/health",
                settings.sagemaker_port,
                lambda log, pids: _spawn_sagemaker(settings, sm_url, log, pids),
                timeout,
            )
        )
    else:
        statuses.append(
            ServiceStatus("sagemaker", sm_url, None, False, False, note=f"skipped: {SAGEMAKER_MODULE} not found")
        )
    return statuses


def down(settings: Settings) -> list[tuple[str, str]]:
    """Stop every service this harness home started (SageMaker first: it talks to LocalStack)."""
    results = []
    for name in ("sagemaker", "localstack"):
        path = pid_path(settings, name)
        record = ServiceRecord.read(path)
        if record is None:
            results.append((name, "not running"))
            continue
        results.append((name, stop(record)))
        path.unlink(missing_ok=True)
    return results


def status(settings: Settings) -> list[ServiceStatus]:
    statuses = []
    for name, port in (("localstack", settings.localstack_port), ("sagemaker", settings.sagemaker_port)):
        record = ServiceRecord.read(pid_path(settings, name))
        url = f"http://127.0.0.1:{port}"
        if record is None:
            note = "" if name == "localstack" or sagemaker_available() else f"{SAGEMAKER_MODULE} not found"
            statuses.append(ServiceStatus(name, url, None, False, False, note=note))
            continue
        running = is_running(record)
        healthy = running and is_healthy(record.health_url)
        note = "" if running else "stale pid file (process gone)"
        statuses.append(ServiceStatus(name, record.url, record.pid, running, healthy, note=note))
    return statuses


def _ensure(
    settings: Settings,
    name: str,
    url: str,
    health_url: str,
    port: int,
    start: Callable[[Path, Path], ServiceRecord],
    timeout: float,
) -> ServiceStatus:
    path = pid_path(settings, name)
    started = time.monotonic()
    record = ServiceRecord.read(path)
    if record is not None and is_running(record):
        wait_healthy(record, timeout)
        return ServiceStatus(name, record.url, record.pid, True, True, "reused", time.monotonic() - started)
    if record is not None:
        stop(record)  # clears orphans of a service that died on its own
        path.unlink(missing_ok=True)
    if port_in_use("127.0.0.1", port):
        raise ServiceError(
            f"port {port} on 127.0.0.1 is already in use by a process this harness did not start "
            f"(no live pid file at {path}); stop that process or choose another port "
            f"(HARNESS_{name.upper()}_PORT)"
        )
    log = service_dir(settings, name) / f"{name}.log"
    record = start(log, path)
    try:
        wait_healthy(record, timeout)
    except ServiceError:
        stop(record)
        path.unlink(missing_ok=True)
        raise
    return ServiceStatus(name, record.url, record.pid, True, True, "started", time.monotonic() - started)


def _spawn_localstack(spec: localstack.LaunchSpec, log: Path, pids: Path) -> ServiceRecord:
    for sub in ("tmp", "volume"):
        (spec.state_dir / sub).mkdir(parents=True, exist_ok=True)
    return spawn(
        "localstack",
        spec.cmd,
        env=spec.env,
        cwd=spec.state_dir,
        log_path=log,
        pid_path=pids,
        url=spec.url,
        health_url=spec.health_url,
    )


def _spawn_sagemaker(settings: Settings, url: str, log: Path, pids: Path) -> ServiceRecord:
    state = service_dir(settings, "sagemaker") / "state"
    state.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(target_for(settings.replace(target="local")).process_env())
    cmd = [
        sys.executable,
        *("-m", SAGEMAKER_MODULE, "--host", "127.0.0.1", "--port", str(settings.sagemaker_port)),
        *("--state-dir", str(state)),
    ]
    return spawn(
        "sagemaker",
        cmd,
        env=env,
        cwd=Path.cwd(),
        log_path=log,
        pid_path=pids,
        url=url,
        health_url=f"{url}/_emulator/health",
    )
