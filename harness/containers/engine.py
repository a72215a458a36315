"""The Docker engine and compose tool the stack uses, found at run time.

Compose v2 (``docker compose``) is preferred where it exists; Debian's ``docker-compose`` 1.29 (v1) is
the fallback. Neither's ``--wait`` is relied on (v1 has none and exits 0 after printing its usage), so
:mod:`.stack` waits on the health checks itself. The socket the stack bind-mounts into the containers
that start containers (LocalStack's Lambda executor, the SageMaker emulator) comes from ``DOCKER_HOST``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SOCKET = "/var/run/docker.sock"


class EngineError(RuntimeError):
    """No usable Docker engine or compose tool; the message says what is missing and how to get it."""


def docker_socket(env: dict[str, str] | None = None) -> str:
    """The engine's unix socket path: ``DOCKER_HOST=unix://...`` when set, else the default socket."""
    host = (env if env is not None else os.environ).get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if not host.startswith("unix://"):
        raise EngineError(
            f"DOCKER_HOST={host!r} is not a unix socket: the stack's LocalStack and emulator containers "
            "start containers through a bind-mounted socket, so the engine must be local (unix://...)"
        )
    return host.removeprefix("unix://")


@dataclass(frozen=True)
class Compose:
    """How to call compose here: ``argv`` is ``['docker', 'compose']`` or ``['docker-compose']``."""

    argv: tuple[str, ...]
    version: str

    @property
    def is_v1(self) -> bool:
        return self.argv == ("docker-compose",)


def find_compose() -> Compose:
    """Compose v2 if ``docker compose version`` answers, else ``docker-compose`` v1."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version", "--short"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and probe.stdout.strip():
            return Compose(("docker", "compose"), probe.stdout.strip())
    v1 = shutil.which("docker-compose")
    if v1:
        probe = subprocess.run([v1, "version", "--short"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return Compose(("docker-compose",), probe.stdout.strip())
    raise EngineError(
        "no compose tool found: install Docker Compose v2 (the `docker compose` plugin) or v1 "
        "(Debian: apt-get install docker-compose)"
    )


def client():  # type: ignore[no-untyped-def]
    """A docker SDK client for ``DOCKER_HOST`` (or the default socket), checked with a ping."""
    try:
        import docker

        engine = docker.from_env()
        engine.ping()
    except Exception as exc:
        raise EngineError(
            f"no Docker engine answers at {os.environ.get('DOCKER_HOST') or 'unix://' + DEFAULT_SOCKET}: "
            f"{exc} (start dockerd, or set DOCKER_HOST)"
        ) from exc
    return engine


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise EngineError(f"{name} is needed here and is not installed (Debian: apt-get install {package})")
    return str(Path(path))
