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
from harness.embedded import localstack
from harness.embedded.process import (
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

SAGEMAKER_MODULE = "sagemaker_emulator"
USER_CREDENTIAL_VARS = frozenset(
    {"AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
)
# The harness's image map: the emulator knows no project, so the harness tells it that the built-in
# image-classification image runs this project's training/train.py and training/serve.py.
SAGEMAKER_IMAGE_MAP = Path(__file__).with_name("sagemaker-images.json")
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
    """Whether ``python -m sagemaker_emulator`` can run (a module, or a package with ``__main__``)."""
    spec = importlib.util.find_spec(SAGEMAKER_MODULE)
    if spec is None:
        return False
    return (
        spec.submodule_search_locations is None
        or importlib.util.find_spec(f"{SAGEMAKER_MODULE}.__main__") is not None
    )


def up(
    settings: Settings, console: Console | None = None, timeout: float = READY_TIMEOUT_S
) -> list[ServiceStatus]:
    """Start (or reuse) every service, then wait until each answers its health check.

    Both services are spawned before either is waited for, so their start-ups overlap.
    """
    console = console or Console(stderr=True)
    python = localstack.ensure_venv(settings, console)  # slow only on the first run
    # The harness's functions' runtime environment, built alongside the start-up (first run only).
    prebuild = localstack.prebuild_runtime(settings, console)
    ls = localstack.launch_spec(settings, python)
    sm_url = f"http://127.0.0.1:{settings.sagemaker_port}"
    launches = [
        _Launch(
            "localstack",
            ls.url,
            ls.health_url,
            settings.localstack_port,
            lambda log, pids: _spawn_localstack(ls, log, pids),
        )
    ]
    if sagemaker_available():
        launches.append(
            _Launch(
                "sagemaker",
                sm_url,
                f"{sm_url}/_emulator/health",
                settings.sagemaker_port,
                lambda log, pids: _spawn_sagemaker(settings, sm_url, log, pids),
            )
        )
    started = time.monotonic()
    begun: list[tuple[_Launch, ServiceRecord, bool]] = []
    try:
        for launch in launches:
            begun.append((launch, *_start_or_reuse(settings, launch)))
        statuses = [
            _await(settings, launch, record, reused, started, timeout) for launch, record, reused in begun
        ]
        prebuild.join()
    except ServiceError:
        for launch, record, reused in begun:
            if not reused:  # leave nothing half-started behind; a reused service stays as it was
                stop(record)
                pid_path(settings, launch.name).unlink(missing_ok=True)
        raise
    if not sagemaker_available():
        statuses.append(
            ServiceStatus(
                "sagemaker", sm_url, None, False, False, note=f"skipped: {SAGEMAKER_MODULE} not found"
            )
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


@dataclass(frozen=True)
class _Launch:
    name: str
    url: str
    health_url: str
    port: int
    start: Callable[[Path, Path], ServiceRecord]  # (log path, pid path) -> record of the spawned process


def _start_or_reuse(settings: Settings, launch: _Launch) -> tuple[ServiceRecord, bool]:
    """The running service of this home (reused), or a freshly spawned one; fails if the port is taken."""
    path = pid_path(settings, launch.name)
    record = ServiceRecord.read(path)
    if record is not None and is_running(record):
        if record.url != launch.url:
            raise ServiceError(
                f"{launch.name} of home {settings.home} already runs at {record.url}, not {launch.url}; "
                "run 'harness down' first to change its port"
            )
        return record, True
    if record is not None:
        stop(record)  # clears orphans of a service that died on its own
        path.unlink(missing_ok=True)
    if port_in_use("127.0.0.1", launch.port):
        raise ServiceError(
            f"port {launch.port} on 127.0.0.1 is already in use by a process this harness did not start "
            f"(no live pid file at {path}); stop that process or choose another port "
            f"(HARNESS_{launch.name.upper()}_PORT)"
        )
    log = service_dir(settings, launch.name) / f"{launch.name}.log"
    return launch.start(log, path), False


def _await(
    settings: Settings, launch: _Launch, record: ServiceRecord, reused: bool, started: float, timeout: float
) -> ServiceStatus:
    wait_healthy(record, timeout)
    note = "reused" if reused else "started"
    return ServiceStatus(launch.name, record.url, record.pid, True, True, note, time.monotonic() - started)


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
    # The user's own session token and profile are for AWS, not for the embedded cloud's services.
    env = {k: v for k, v in os.environ.items() if k not in USER_CREDENTIAL_VARS}
    env.update(target_for(settings.replace(target="local")).process_env())
    cmd = [
        sys.executable,
        *("-m", SAGEMAKER_MODULE, "--host", "127.0.0.1", "--port", str(settings.sagemaker_port)),
        *("--state-dir", str(state)),
        *("--image-map", str(SAGEMAKER_IMAGE_MAP)),
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
