"""The whole embedded cloud: LocalStack plus the SageMaker emulator, as background services.

``up`` is idempotent: a service this harness home already runs is reused; a port held by anything else
is an error rather than a silent second instance. State, temp files, logs and pid files live under
``settings.home`` (one folder per service), so two homes with different ports never interfere.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
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
    rotate_log,
    spawn,
    stop,
    wait_healthy,
)
from harness.files import write_atomic
from harness.targets.base import emulated_env, host_urls

SAGEMAKER_MODULE = "sagemaker_emulator"
# The harness's image map: the emulator knows no project, so the harness tells it that the built-in
# image-classification image runs this project's training/train.py and training/serve.py.
SAGEMAKER_IMAGE_MAP = Path(__file__).with_name("sagemaker-images.json")
READY_TIMEOUT_S = 60.0
STACK_LOCK_TIMEOUT_S = 900.0  # a first `up` builds LocalStack's venv (minutes) while holding the lock


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
    """Start (or reuse) LocalStack, wait until it is healthy, then start (or reuse) the emulator.

    In that order because the emulator, as it starts, restores its endpoints by downloading their
    model data from LocalStack's S3: started together, it raced LocalStack's start and failed them.
    The emulator's state belongs to one LocalStack process (LocalStack Community keeps nothing across
    a restart), so when LocalStack is new the emulator's state is dropped: the cloud comes back whole
    or empty, never half (see :func:`_keep_or_drop_emulator_state`).
    """
    console = console or Console(stderr=True)
    python = localstack.ensure_venv(settings, console)  # slow only on the first run
    # The harness's functions' runtime environment, built alongside the start-up (first run only).
    prebuild = localstack.prebuild_runtime(settings, console)
    ls = localstack.launch_spec(settings, python)
    sm_url = f"http://127.0.0.1:{settings.sagemaker_port}"
    ls_launch = _Launch(
        "localstack",
        ls.url,
        ls.health_url,
        settings.localstack_port,
        lambda log, pids: _spawn_localstack(ls, log, pids),
    )
    sm_launch = _Launch(
        "sagemaker",
        sm_url,
        f"{sm_url}/_emulator/health",
        settings.sagemaker_port,
        lambda log, pids: _spawn_sagemaker(settings, sm_url, log, pids),
    )
    started = time.monotonic()
    begun: list[tuple[_Launch, ServiceRecord, bool]] = []
    statuses = []
    with _stack_lock(settings):
        try:
            begun.append((ls_launch, *_start_or_reuse(settings, ls_launch)))
            statuses.append(_await(settings, *begun[-1], started, timeout))
            if sagemaker_available():
                _keep_or_drop_emulator_state(settings, begun[0][1])
                begun.append((sm_launch, *_start_or_reuse(settings, sm_launch)))
                statuses.append(_await(settings, *begun[-1], started, timeout))
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


def down(settings: Settings, reset: bool = False) -> list[tuple[str, str]]:
    """Stop every service this harness home started (SageMaker first: it talks to LocalStack).

    LocalStack's state (S3 objects, functions, state machines) ends with its process, so the emulator's
    state is dropped with it: a later ``up`` starts an empty cloud instead of an emulator that remembers
    training jobs whose artifacts no longer exist. ``reset`` also removes the services' logs and
    temp folders, leaving the home as if the cloud had never run here.
    """
    results = []
    with _stack_lock(settings):
        for name in ("sagemaker", "localstack"):
            path = pid_path(settings, name)
            record = ServiceRecord.read(path)
            if record is None:
                results.append((name, "not running"))
                continue
            results.append((name, stop(record)))
            path.unlink(missing_ok=True)
        if _drop(emulator_state_dir(settings)):
            results.append(("sagemaker", "state dropped (LocalStack keeps none across a restart)"))
        if reset:
            for name in ("localstack", "sagemaker"):
                if _drop(service_dir(settings, name)):
                    results.append((name, f"reset: removed {service_dir(settings, name)}"))
    return results


def emulator_state_dir(settings: Settings) -> Path:
    return service_dir(settings, "sagemaker") / "state"


def _generation_path(settings: Settings) -> Path:
    # Beside the state folder, not in it: the emulator owns what is inside.
    return service_dir(settings, "sagemaker") / "state-of-localstack.json"


def _keep_or_drop_emulator_state(settings: Settings, localstack_record: ServiceRecord) -> None:
    """Keep the emulator's state only if it was built against the LocalStack that runs now.

    The generation is LocalStack's (pid, start time). A different one means LocalStack restarted (a
    crash, ``kill -9``, a reboot) and its S3 is empty, so an emulator still running is stopped and its
    state dropped; the same one means only the emulator went away, and it may restore everything.
    """
    generation = {"pid": localstack_record.pid, "create_time": localstack_record.create_time}
    path = _generation_path(settings)
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        recorded = None
    if recorded == generation:
        return
    record = ServiceRecord.read(pid_path(settings, "sagemaker"))
    if record is not None:
        stop(record)
        pid_path(settings, "sagemaker").unlink(missing_ok=True)
    _drop(emulator_state_dir(settings))
    write_atomic(path, json.dumps(generation) + "\n")


def _drop(folder: Path) -> bool:
    """Remove ``folder`` (renamed first, so a half-removed tree is never mistaken for state)."""
    if not folder.exists():
        return False
    doomed = folder.with_name(f".{folder.name}.dropped-{os.getpid()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return True


@contextlib.contextmanager
def _stack_lock(settings: Settings) -> Iterator[None]:
    """One ``up`` or ``down`` at a time per home: two at once would each spawn or stop the services."""
    home = settings.home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "stack.lock", "a") as handle:
        deadline = time.monotonic() + STACK_LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ServiceError(
                        f"another 'harness up' or 'down' on {home} held {home / 'stack.lock'} for "
                        f"{STACK_LOCK_TIMEOUT_S:.0f} s; wait for it to finish, then try again"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        rotate_log(Path(record.log_path))  # a long-lived service's log is rotated on each reuse
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
    rotate_log(log)
    return launch.start(log, path), False


def _await(
    settings: Settings, launch: _Launch, record: ServiceRecord, reused: bool, started: float, timeout: float
) -> ServiceStatus:
    wait_healthy(record, timeout)
    note = "reused" if reused else "started"
    return ServiceStatus(launch.name, record.url, record.pid, True, True, note, time.monotonic() - started)


def _spawn_localstack(spec: localstack.LaunchSpec, log: Path, pids: Path) -> ServiceRecord:
    for sub in ("tmp", "volume", "s3-storage"):
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
    state = emulator_state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    env = emulator_env(settings)
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


def emulator_env(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The emulator's environment: the caller's minus every AWS_* variable, plus the local target's.

    The user's AWS_PROFILE, AWS_SESSION_TOKEN, AWS_CONFIG_FILE, ... are meant for real AWS; passed on,
    a session token would be sent with the dummy keys, and a profile would override them, so the
    emulator (and the jobs it starts) could reach the real account. Only the embedded cloud's
    endpoints and dummy credentials remain.
    """
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if not k.startswith("AWS_")}
    urls = host_urls(settings)
    env.update(emulated_env(settings.region, urls["main_url"], urls["sagemaker_url"]))
    return env
