"""One Lambda execution environment as its own container of the project's runtime image.

The same lifecycle and strictness as :class:`~localstack_plugin.environment.ExecutionProcess` (it is a
subclass: the timeout, init errors, a runtime that dies, ``START``/``END``/``REPORT`` framing and a fresh
init after a failure are its code), but the runtime runs in a container: ``python -m awslambdaric`` of
the image (the runtime's Python and boto3, never LocalStack's), polling a Runtime API that this process
serves on the stack's network. What AWS gives a function and nothing more:

* only the function's code (copied to ``/var/task``) and its layers (copied to ``/opt``); the copies go
  through the docker API (``put_archive``), so no path of LocalStack's container has to exist on the host;
* a read-only root filesystem, a non-root user (uid 993, as Lambda's ``sbx_user1051``), and its own
  ``/tmp`` (tmpfs of the function's ephemeral storage size, 512 MiB by default);
* the function's memory size as the container's memory limit (no swap): the kernel's OOM kill is
  reported as ``Runtime.OutOfMemory``, as Lambda reports it.

Each incarnation is a new container, removed (with its anonymous volumes) when it is killed or stopped.
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .environment import AWS_RUNTIME_ENV, DROPPED_ENV, INIT_TIMEOUT_S, ExecutionProcess, FunctionSpec, _Output
from .lambda_bootstrap import RLIMITS
from .runtime_api import RuntimeApi

TASK_ROOT = "/var/task"
LAYER_ROOT = "/opt"
SANDBOX_USER = "993:990"
TMP_SIZE_MB = 512
LABEL_PREFIX = "scones-lambda"
# AWS's ulimits (the local executor's RLIMITS), in docker's names: nofile (1024, 1024), memlock.
CONTAINER_ULIMITS = {name.removeprefix("RLIMIT_").lower(): limits for name, limits in RLIMITS.items()}
_SETTLE_MIN_S = 0.06
_SETTLE_IDLE_S = 0.03
_SETTLE_MAX_S = 0.3


def _runtime_command(handler: str, env: Mapping[str, str]) -> list[str]:
    """``python -m awslambdaric <handler>``; through ``AWS_LAMBDA_EXEC_WRAPPER`` when set, as AWS's runtime
    bootstrap runs it (``exec "$AWS_LAMBDA_EXEC_WRAPPER" <runtime command>``: a missing wrapper is the
    shell's exit status 127, a non-executable one 126)."""
    if not env.get("AWS_LAMBDA_EXEC_WRAPPER"):
        return ["python", "-m", "awslambdaric", handler]
    script = 'exec "$AWS_LAMBDA_EXEC_WRAPPER" python -m awslambdaric "$0"'
    return ["/bin/sh", "-c", script, handler]


class ContainerSpecError(RuntimeError):
    """The container could not be created or started (image missing, engine unreachable, ...)."""


def _tar_of(folder: Path) -> bytes:
    """The folder's contents as a tar (root-owned, read-only for the sandbox user), for put_archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(folder)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()


# The runtime is the container's PID 1 and nothing in it sends SIGKILL: exit code 128 + 9 means the
# kernel's OOM killer. Docker's ``OOMKilled`` flag alone is not enough: on some engines (cgroup v2
# hosts, nested engines) the OOM event is lost or lands after the exit event, and the flag stays false.
# A timeout kills the container too, but that is reported as ``Sandbox.Timedout`` before this is read.
_SIGKILL_EXIT = 137


class ContainerProcess:
    """A container that quacks like the ``subprocess.Popen`` :class:`ExecutionProcess` manages."""

    def __init__(self, client: Any, container: Any, socket: Any) -> None:
        self._client = client
        self.container = container
        self.pid: int | None = None
        self._socket = socket
        self._code: int | None = None
        self.oom_killed = False
        self._last_output = time.monotonic()
        read_fd, self._write_fd = os.pipe()
        self.stdout = os.fdopen(read_fd, "rb", buffering=0)
        threading.Thread(target=self._pump, name="lambda-container-output", daemon=True).start()

    def _pump(self) -> None:
        """Attached tty output -> the pipe :class:`_Output` reads (``\\r\\n`` of the tty -> ``\\n``)."""
        raw = getattr(self._socket, "_sock", self._socket)
        try:
            while True:
                chunk = raw.recv(65536)
                if not chunk:
                    break
                self._last_output = time.monotonic()
                os.write(self._write_fd, chunk.replace(b"\r\n", b"\n"))
        except OSError:
            pass
        finally:
            os.close(self._write_fd)

    def settle(self) -> None:
        """Give output written before the result time to arrive: it reaches us through dockerd, so it can
        trail the result the runtime posted after writing it. At least 60 ms, then until the stream has
        been quiet for 30 ms (at most 300 ms)."""
        start = time.monotonic()
        time.sleep(_SETTLE_MIN_S)
        while (
            time.monotonic() - start < _SETTLE_MAX_S and time.monotonic() - self._last_output < _SETTLE_IDLE_S
        ):
            time.sleep(0.01)

    def poll(self) -> int | None:
        if self._code is not None:
            return self._code
        try:
            self.container.reload()
        except Exception:  # removed behind our back: treat as killed
            self._code = -9
            return self._code
        if self.container.status in ("exited", "dead"):
            state = self.container.attrs["State"]
            self._code = int(state["ExitCode"])
            self.oom_killed = bool(state.get("OOMKilled")) or self._code == _SIGKILL_EXIT
        return self._code

    def kill(self) -> None:
        """Kill and remove: an incarnation never restarts, the next one is a new container."""
        self.poll()
        for _attempt in range(3):
            try:
                self.container.remove(force=True, v=True)
                break
            except Exception as exc:  # "removal already in progress", a busy engine: retry, then give up
                if "No such container" in str(exc):
                    break
                time.sleep(0.5)
        if self._code is None:
            self._code = -9

    def wait(self, timeout: float | None = None) -> int | None:
        return self._code


class _SettledOutput(_Output):
    def __init__(self) -> None:
        super().__init__()
        self.process: ContainerProcess | None = None

    def take(self) -> str:
        if self.process is not None:
            self.process.settle()
        return super().take()


class ExecutionContainer(ExecutionProcess):
    """:class:`ExecutionProcess` whose runtime is a container on ``network`` (see the module doc)."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        client: Any,
        image: str,
        network: str | None,
        runtime_host: str,
        labels: Mapping[str, str],
        layer_dirs: Sequence[Path] = (),
        name_prefix: str = "lambda",
    ) -> None:
        super().__init__(spec)
        self._client = client
        self._image = image
        self._network = network
        self._runtime_host = runtime_host
        self._labels = dict(labels)
        self._layer_dirs = list(layer_dirs)
        self._name_prefix = name_prefix
        self._output = _SettledOutput()

    @property
    def container_id(self) -> str | None:
        proc = self._proc
        return proc.container.id if isinstance(proc, ContainerProcess) else None

    def _spawn(self) -> None:
        self._kill()
        spec = self.spec
        api = RuntimeApi(host="0.0.0.0")
        self._api = api
        port = api.address.rsplit(":", 1)[1]
        env = {k: v for k, v in spec.env.items() if k not in DROPPED_ENV}
        # AWS's runtime variables (the local executor's AWS_RUNTIME_ENV), but PATH and PYTHONPATH: the
        # runtime image keeps Python and awslambdaric where Debian's python image has them, so the code
        # and layers are on PYTHONPATH rather than found through /var/runtime (docs/parity.md).
        env.update({k: v for k, v in AWS_RUNTIME_ENV.items() if k not in ("PATH", "PYTHONPATH")})
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"{self._runtime_host}:{port}",
                "PYTHONPATH": ":".join(
                    (TASK_ROOT, f"{LAYER_ROOT}/python/lib/python3.11/site-packages", f"{LAYER_ROOT}/python")
                ),
                "PYTHONUNBUFFERED": "1",  # the tty's output must reach the log as it is written
            }
        )
        started = time.perf_counter()
        self._proc = self._create(env)  # type: ignore[assignment]
        self._output.process = self._proc  # type: ignore[attr-defined]
        self._output.attach(self._proc.stdout)  # type: ignore[union-attr]
        deadline = started + INIT_TIMEOUT_S
        while not api.ready.wait(0.02):
            if self._proc.poll() is not None or time.perf_counter() > deadline:  # type: ignore[union-attr]
                break  # reported by the first invocation, as Lambda reports init failures
        self._init_ms = (time.perf_counter() - started) * 1000

    def _create(self, env: dict[str, str]) -> ContainerProcess:
        from docker.types import Mount, Ulimit

        name = f"{self._name_prefix}-{uuid.uuid4().hex[:8]}"
        try:
            container = self._client.containers.create(
                self._image,
                command=_runtime_command(self.spec.handler, env),
                name=name,
                environment=env,
                labels=self._labels,
                network=self._network,
                user=SANDBOX_USER,
                working_dir=TASK_ROOT,
                read_only=True,
                tmpfs={"/tmp": f"size={self.spec.ephemeral_mb or TMP_SIZE_MB}m,mode=1777"},
                mounts=[Mount(path, None, type="volume", no_copy=True) for path in (TASK_ROOT, LAYER_ROOT)],
                ulimits=[Ulimit(name=n, soft=v[0], hard=v[1]) for n, v in CONTAINER_ULIMITS.items()],
                mem_limit=f"{self.spec.memory_mb}m",
                memswap_limit=f"{self.spec.memory_mb}m",
                tty=True,
                stdin_open=False,
            )
        except Exception as exc:
            raise ContainerSpecError(f"cannot create a container of {self._image!r}: {exc}") from exc
        try:
            container.put_archive(TASK_ROOT, _tar_of(self.spec.task_root))
            for layer in self._layer_dirs:
                container.put_archive(LAYER_ROOT, _tar_of(layer))
            socket = container.attach_socket(params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
            container.start()
        except Exception as exc:
            container.remove(force=True, v=True)
            raise ContainerSpecError(f"cannot start the execution environment {name}: {exc}") from exc
        return ContainerProcess(self._client, container, socket)

    def _kill(self) -> None:
        proc = self._proc
        super()._kill()  # kills a live runtime only; an exited container must still be removed
        if isinstance(proc, ContainerProcess):
            proc.kill()

    def _over_memory(self) -> bool:
        """The container's memory limit is the function's: the kernel kills it, docker says OOMKilled."""
        proc = self._proc
        return isinstance(proc, ContainerProcess) and proc.poll() is not None and proc.oom_killed

    def _max_memory(self) -> int | None:
        return None  # the stats API takes about a second per call: too slow for every REPORT line
