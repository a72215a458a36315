"""``harness compose up|down|status``: the compose stack of the `localstack` target, start to finish.

``up`` builds the offline base when no registry answers, builds the images, starts the stack and waits on
every health check itself: compose v1 has no ``--wait`` (it prints its usage and exits 0), and v2's is
not needed. ``down`` removes the containers that the stack's LocalStack and emulator started through the
docker socket (found by their labels: compose does not know them), then the stack with its volumes and
network, then the state folder. Containers are only ever removed by label of *this* stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Settings
from harness.containers import engine, offline

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
OFFLINE_FILE = REPO_ROOT / "docker-compose.offline.yml"
OFFLINE_DIR = REPO_ROOT / "docker" / "offline"
OFFICIAL_PROBE_IMAGE = "python:3.11-slim"
# Labels by which the containers started through the socket are found (set by sagemaker_emulator's docker
# executor and localstack_plugin's container executor from the variables docker-compose.yml passes).
STACK_LABELS = ("sagemaker-emulator.stack", "scones-lambda.stack")
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"


class StackError(RuntimeError):
    """The stack could not be built, started or made healthy; the message names the step and its log."""


@dataclass
class UpReport:
    """What ``up`` did and how long each step took (seconds); ``base_s`` is None when the base was reused."""

    offline: bool
    compose: str
    base_s: float | None = None
    build_s: float = 0.0
    up_s: float = 0.0
    healthy_s: float = 0.0
    services: dict[str, str] = field(default_factory=dict)


def project_name(settings: Settings) -> str:
    """One stack per LocalStack port (two stacks cannot publish the same one), so two stacks never
    share (or sweep) each other's containers."""
    return os.environ.get("HARNESS_COMPOSE_PROJECT") or f"scones{settings.localstack_port}"


def state_dir(settings: Settings) -> Path:
    return (settings.home / "compose").expanduser().resolve()


def compose_env(settings: Settings, offline_mode: bool) -> dict[str, str]:
    project = project_name(settings)
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "HARNESS_COMPOSE_PROJECT": project,
        "HARNESS_COMPOSE_NETWORK": f"{project}-net",
        "HARNESS_LOCALSTACK_PORT": str(settings.localstack_port),
        "HARNESS_SAGEMAKER_PORT": str(settings.sagemaker_port),
        "HARNESS_REGION": settings.region,
        "DOCKER_SOCKET": engine.docker_socket(),
        "SCONES_COMPOSE_STATE": str(state_dir(settings) / "state"),
        # Classic builds for both compose versions: the same cache and the same logs everywhere.
        "DOCKER_BUILDKIT": "0",
        "COMPOSE_DOCKER_CLI_BUILD": "0",
    }
    if offline_mode:
        env["HARNESS_BASE_IMAGE"] = offline.BASE_TAG
    return env


def compose_argv(compose: engine.Compose, offline_mode: bool) -> list[str]:
    if not COMPOSE_FILE.is_file():
        raise StackError(f"{COMPOSE_FILE} not found: `harness compose` runs from a checkout of the project")
    files = ["-f", str(COMPOSE_FILE)] + (["-f", str(OFFLINE_FILE)] if offline_mode else [])
    return [*compose.argv, "--project-directory", str(REPO_ROOT), *files]


def registry_reachable() -> bool:
    """True when the official base image is present or can be pulled (a failed pull returns at once)."""
    if offline.image_exists(OFFICIAL_PROBE_IMAGE):
        return True
    pulled = subprocess.run(
        ["docker", "pull", OFFICIAL_PROBE_IMAGE], capture_output=True, timeout=300, check=False
    )
    return pulled.returncode == 0


def up(
    settings: Settings,
    log: Callable[[str], None],
    offline_mode: bool | None = None,
    timeout: float = 300.0,
    build: bool = True,
) -> UpReport:
    engine.client()
    compose = engine.find_compose()
    if offline_mode is None:
        offline_mode = not registry_reachable()
    report = UpReport(offline=offline_mode, compose=" ".join(compose.argv) + " " + compose.version)
    logs = state_dir(settings)
    (logs / "state").mkdir(parents=True, exist_ok=True)
    if offline_mode:
        log("no registry: building from a local Debian base (docker-compose.offline.yml)")
        report.base_s = offline.build_base(log)
        offline.prepare_context(OFFLINE_DIR, log)
    env = compose_env(settings, offline_mode)
    argv = compose_argv(compose, offline_mode)
    if build:
        started = time.perf_counter()
        log("building the images (log: " + str(logs / "build.log") + ") ...")
        # v1 builds one image after the other unless told; v2 builds in parallel by itself.
        parallel = ["--parallel"] if compose.is_v1 else []
        _run([*argv, "build", *parallel], env, logs / "build.log", "compose build")
        report.build_s = time.perf_counter() - started
    started = time.perf_counter()
    project = project_name(settings)
    before = _service_container(project, "localstack")
    _run([*argv, "up", "-d", "--no-build"], env, logs / "up.log", "compose up")
    if _service_container(project, "localstack") != before and _has_files(logs / "state"):
        # LocalStack keeps nothing across a restart (no persistence), so the emulator must not either: a
        # kept training job would point at a model.tar.gz that S3 no longer has.
        log("LocalStack started empty: restarting the SageMaker emulator with an empty state folder")
        _run([*argv, "stop", "sagemaker-emulator"], env, logs / "up.log", "compose stop")
        shutil.rmtree(logs / "state", ignore_errors=True)
        (logs / "state").mkdir(parents=True)
        _run([*argv, "start", "sagemaker-emulator"], env, logs / "up.log", "compose start")
    report.up_s = time.perf_counter() - started
    started = time.perf_counter()
    report.services = wait_healthy(project_name(settings), timeout)
    report.healthy_s = time.perf_counter() - started
    return report


def _service_container(project: str, service: str) -> str | None:
    """The id of the service's running container, ``None`` when there is none."""
    flt = {"label": [f"{COMPOSE_PROJECT_LABEL}={project}", f"com.docker.compose.service={service}"]}
    running = engine.client().containers.list(filters={**flt, "status": "running"})
    return running[0].id if running else None


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def wait_healthy(project: str, timeout: float) -> dict[str, str]:
    """Wait until every container of the project with a health check is healthy and every one-shot
    container has exited 0; a failed one ends the wait with its last log lines."""
    client = engine.client()
    deadline = time.monotonic() + timeout
    while True:
        states: dict[str, str] = {}
        pending = False
        for container in client.containers.list(
            all=True, filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"}
        ):
            service = container.labels.get("com.docker.compose.service", container.name)
            state = container.attrs["State"]
            health = (state.get("Health") or {}).get("Status")
            if state["Status"] in ("exited", "dead"):
                if state.get("ExitCode", 1) != 0 or health is not None:
                    raise StackError(_failure(container, f"{service} exited with {state.get('ExitCode')}"))
                states[service] = "completed"
            elif health == "unhealthy":
                raise StackError(_failure(container, f"{service} is unhealthy"))
            elif health is not None and health != "healthy":
                pending = True
                states[service] = health
            else:
                states[service] = health or state["Status"]
        if not states:
            raise StackError(f"compose started no containers for project {project!r}")
        if not pending:
            return states
        if time.monotonic() > deadline:
            waiting = ", ".join(f"{k}: {v}" for k, v in states.items() if v not in ("healthy", "completed"))
            raise StackError(f"the stack was not healthy after {timeout:.0f} s ({waiting})")
        time.sleep(1.0)


def _failure(container, what: str) -> str:  # type: ignore[no-untyped-def]
    tail = container.logs(tail=20).decode("utf-8", "replace").rstrip()
    return f"{what}; its last log lines:\n{tail}"


def down(settings: Settings, log: Callable[[str], None]) -> dict[str, int]:
    """Remove the stack, what it started through the socket, its volumes, network and state folder."""
    project = project_name(settings)
    client = engine.client()
    removed = {"swept": sweep(client, project)}
    compose = engine.find_compose()
    env = compose_env(settings, offline_mode=False)
    logs = state_dir(settings)
    logs.mkdir(parents=True, exist_ok=True)
    argv = [*compose_argv(compose, False), "down", "--volumes", "--remove-orphans", "--timeout", "5"]
    _run(argv, env, logs / "down.log", "compose down")
    removed["swept"] += sweep(client, project)
    for network in client.networks.list(filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"}):
        network.remove()
    shutil.rmtree(logs / "state", ignore_errors=True)
    log(f"stack {project} removed ({removed['swept']} job, endpoint or function containers swept)")
    return removed


def sweep(client, project: str) -> int:  # type: ignore[no-untyped-def]
    """Force-remove (with their anonymous volumes) the containers labelled as started by this stack."""
    import docker.errors

    count = 0
    for label in STACK_LABELS:
        for container in client.containers.list(all=True, filters={"label": f"{label}={project}"}):
            try:
                container.remove(force=True, v=True)
                count += 1
            except docker.errors.NotFound:  # removed meanwhile by its owner (LocalStack, the emulator)
                pass
    return count


def leftovers(project: str) -> list[str]:
    """Containers, networks and volumes of this stack that still exist (empty after ``down``)."""
    client = engine.client()
    found: list[str] = []
    for label in (COMPOSE_PROJECT_LABEL, *STACK_LABELS):
        flt = {"label": f"{label}={project}"}
        found += [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
        if label == COMPOSE_PROJECT_LABEL:
            found += [f"network {n.name}" for n in client.networks.list(filters=flt)]
            found += [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
    return found


def _run(argv: list[str], env: dict[str, str], log_path: Path, what: str) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        done = subprocess.run(argv, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
        raise StackError(f"{what} failed (exit {done.returncode}); log {log_path}:\n{tail}")
