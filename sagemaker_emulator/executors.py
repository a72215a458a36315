"""Executors run an image's ``train`` or ``serve`` entrypoint over a host folder laid out as /opt/ml.

* ``process`` (default): the image map names a local command; it runs as a subprocess with
  ``OPT_ML`` pointing at the folder. No Docker needed.
* ``docker``: the image itself runs with the folder bind-mounted at ``/opt/ml`` (what the
  SageMaker Python SDK's local mode does), through the docker SDK. It needs an engine; the unit
  tests drive it with a fake client, tests/containers/ with a real one. Every container is labelled
  with the emulator's stack (``sagemaker-emulator.stack``), its kind (``training-job`` or
  ``endpoint``) and its name; it is removed once its logs end (the job ended, the server stopped
  or died) and when it is stopped, and an emulator that starts removes the containers its stack
  left behind (a killed emulator), so names never clash with a leftover (409 Conflict).

Both hand back a :class:`Run`: a line iterator for the logs, ``poll``/``wait`` for the exit code,
``stop`` for a bounded shutdown.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sagemaker_emulator import _proc
from sagemaker_emulator.images import ImageMap

CONTAINER_OPT_ML = "/opt/ml"
CONTAINER_PORT = 8080
LABEL_STACK = "sagemaker-emulator.stack"
LABEL_KIND = "sagemaker-emulator.kind"
LABEL_NAME = "sagemaker-emulator.name"
DEFAULT_STACK = "sagemaker-emulator"


# The user's own session and profile stay with the user: a training script or model server gets the
# credentials the emulator was started with for its cloud, never a session token or profile that
# would let it act as the user on a real account.
USER_CREDENTIAL_VARS = frozenset(
    {"AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
)


def world_writable(path: str) -> bool:
    """Whether anyone may create files in ``path`` (so nothing should be imported from it)."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IWOTH)
    except OSError:
        return False


class ExecutorError(RuntimeError):
    """The executor cannot run this image (unmapped image, no engine, ...)."""


@dataclass
class RunSpec:
    """What to run: ``mode`` is 'train' or 'serve'; ``opt_ml`` is the host folder mounted as /opt/ml."""

    image: str
    mode: str
    opt_ml: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None  # serve: the host port on 127.0.0.1


class Run(Protocol):
    pid: int | None
    started: str | None

    def lines(self) -> Iterator[str]: ...
    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int | None: ...
    def stop(self, grace: float) -> int | None: ...


class Executor(Protocol):
    name: str

    def check(self, image: str, mode: str) -> None: ...
    def start(self, spec: RunSpec) -> Run: ...


class ProcessRun:
    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.pid: int | None = proc.pid
        self.started = _proc.start_time(proc.pid)
        self._reaped = False

    def lines(self) -> Iterator[str]:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            yield raw.decode("utf-8", "replace").rstrip("\r\n")

    def poll(self) -> int | None:
        return self._ended(self.proc.poll())

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._ended(self.proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            return None

    def _ended(self, code: int | None) -> int | None:
        """Once the main process has exited, whatever it forked (its process group) ends with it.

        A container's processes all end when its main process does; a training script that leaves a
        data loader or a daemon running must not outlive the job here either.
        """
        if code is not None and not self._reaped:
            self._reaped = True
            _proc.kill_group(self.proc.pid)
        return code

    def stop(self, grace: float) -> int | None:
        return _proc.stop_popen(self.proc, grace)


class ProcessExecutor:
    """Runs the image map's command for the image as a local subprocess."""

    name = "process"

    def __init__(self, image_map: ImageMap | None = None, base_env: dict[str, str] | None = None):
        self.image_map = image_map or ImageMap()
        self.base_env = dict(os.environ if base_env is None else base_env)

    def check(self, image: str, mode: str) -> None:
        if self.image_map.resolve(image, mode) is None:
            raise ExecutorError(
                f"image {image!r} has no local '{mode}' command in the emulator's image map "
                "(add an entry with --image-map)"
            )

    def start(self, spec: RunSpec) -> ProcessRun:
        command = self.image_map.resolve(spec.image, spec.mode)
        if command is None:
            self.check(spec.image, spec.mode)
        assert command is not None
        env = {
            **{k: v for k, v in self.base_env.items() if k not in USER_CREDENTIAL_VARS},
            **command.env,
            **spec.env,
            "OPT_ML": str(spec.opt_ml),
            "PYTHONUNBUFFERED": "1",
        }
        cwd = command.cwd or os.getcwd()
        inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and not world_writable(p)]
        if world_writable(cwd):
            # Anyone could plant a module there; run from the job's own folder and import nothing from it
            # (PYTHONSAFEPATH keeps `python -m` from putting the working directory first on sys.path).
            cwd = str(spec.opt_ml.parent)
            env["PYTHONSAFEPATH"] = "1"
            env["PYTHONPATH"] = os.pathsep.join(inherited)
        else:
            # Let `python -m training.train` import the project from the working directory.
            env["PYTHONPATH"] = os.pathsep.join([cwd, *inherited])
        if spec.port is not None:
            env["SAGEMAKER_BIND_TO_PORT"] = str(spec.port)
            env["SAGEMAKER_BIND_TO_HOST"] = "127.0.0.1"
        try:
            proc = subprocess.Popen(
                command.argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ExecutorError(f"cannot start {command.argv[0]!r} for image {spec.image!r}: {exc}") from exc
        return ProcessRun(proc)


class DockerRun:
    def __init__(self, container: Any):
        self.container = container
        self.pid: int | None = None
        self.started: str | None = None
        self._exit_code: int | None = None

    def lines(self) -> Iterator[str]:
        """The container's output until it exits; then the container is removed (its exit code kept)."""
        buffer = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    yield line.decode("utf-8", "replace").rstrip("\r")
            if buffer:
                yield buffer.decode("utf-8", "replace")
        finally:
            self._exit_code = self.wait(timeout=30)
            self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(Exception):  # already gone (removed by stop() or a sweep)
            self.container.remove(force=True)

    def poll(self) -> int | None:
        if self._exit_code is not None:
            return self._exit_code
        try:
            self.container.reload()
        except Exception:  # removed: lines() kept the exit code, unless stop() or a sweep removed it
            return self._exit_code if self._exit_code is not None else -9
        if self.container.status in ("exited", "dead"):
            return int(self.container.attrs["State"]["ExitCode"])
        return None

    def wait(self, timeout: float | None = None) -> int | None:
        if self._exit_code is not None:
            return self._exit_code
        try:
            result = self.container.wait(timeout=timeout)
        except Exception:  # the docker SDK raises requests' timeout types here; or the container is gone
            return self.poll() if timeout else None
        return int(result["StatusCode"])

    def stop(self, grace: float) -> int | None:
        try:
            self.container.stop(timeout=max(1, int(grace)))
            code = self.wait(timeout=grace + 5)
        finally:
            self._remove()
        return code


class DockerExecutor:
    """Runs the image itself, like SageMaker and the SDK's local mode: ``docker run <image> train|serve``.

    ``network_mode`` (default: env ``SAGEMAKER_EMULATOR_DOCKER_NETWORK_MODE``) set to ``container:<name>``
    runs the containers in that container's network namespace instead of publishing ports on the host:
    when the emulator itself runs in a container (docker compose), 127.0.0.1:<port> is then the same
    address for the emulator and the model server.
    """

    name = "docker"

    def __init__(self, client: Any = None, network_mode: str | None = None, stack: str | None = None):
        self.network_mode = network_mode or os.environ.get("SAGEMAKER_EMULATOR_DOCKER_NETWORK_MODE") or None
        self.stack = stack or os.environ.get("SAGEMAKER_EMULATOR_DOCKER_STACK") or DEFAULT_STACK
        if client is None:
            try:
                import docker  # optional at runtime: only this executor needs it

                client = docker.from_env()
                client.ping()
            except Exception as exc:
                raise ExecutorError(f"the docker executor needs a running Docker engine: {exc}") from exc
        self.client = client

    def check(self, image: str, mode: str) -> None:
        if not image:
            raise ExecutorError("an image URI is required")

    def sweep(self) -> int:
        """Remove the containers this stack's emulators left (a killed emulator leaves running ones)."""
        count = 0
        for container in self.client.containers.list(
            all=True, filters={"label": f"{LABEL_STACK}={self.stack}"}
        ):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
                count += 1
        return count

    def start(self, spec: RunSpec) -> DockerRun:
        env = {**spec.env, "OPT_ML": CONTAINER_OPT_ML}
        kwargs: dict[str, Any] = {
            "command": [spec.mode],
            "detach": True,
            # Unique: a job or endpoint name may be reused after its container was (or failed to be) removed.
            "name": f"{spec.name}-{uuid.uuid4().hex[:6]}",
            "environment": env,
            "volumes": {str(spec.opt_ml.resolve()): {"bind": CONTAINER_OPT_ML, "mode": "rw"}},
            "labels": {
                LABEL_STACK: self.stack,
                LABEL_KIND: "training-job" if spec.mode == "train" else "endpoint",
                LABEL_NAME: spec.name,
            },
        }
        if self.network_mode:
            kwargs["network_mode"] = self.network_mode
            if spec.port is not None:  # shared namespace: listen where the emulator will call
                env["SAGEMAKER_BIND_TO_PORT"] = str(spec.port)
                env["SAGEMAKER_BIND_TO_HOST"] = "127.0.0.1"
        elif spec.port is not None:
            env["SAGEMAKER_BIND_TO_PORT"] = str(CONTAINER_PORT)
            env["SAGEMAKER_BIND_TO_HOST"] = "0.0.0.0"  # inside the container; published on 127.0.0.1
            kwargs["ports"] = {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", spec.port)}
        try:
            container = self.client.containers.run(spec.image, **kwargs)
        except Exception as exc:
            raise ExecutorError(f"docker could not run {spec.image!r}: {exc}") from exc
        return DockerRun(container)


def make_executor(name: str, image_map: ImageMap) -> Executor:
    if name == "process":
        return ProcessExecutor(image_map)
    if name == "docker":
        executor = DockerExecutor()
        executor.sweep()  # at emulator start: nothing of this stack runs yet
        return executor
    raise ExecutorError(f"unknown executor {name!r}: use 'process' or 'docker'")
