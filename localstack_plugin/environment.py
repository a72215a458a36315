"""One Lambda execution environment as a long-lived local Python process running ``awslambdaric``.

The process imports the handler once (the cold start) and then serves invocations one at a time, so
warm invocations reuse module state as on AWS. This module enforces what the real Lambda service does
around the runtime: the timeout (the process is killed and the invocation fails with ``Task timed out
after N.NN seconds``), ``MemorySize`` (``Runtime.OutOfMemory``), a private size-limited ``/tmp`` and a
read-only task root (:mod:`.sandbox`), a runtime that dies mid-invocation, per-invocation logs framed by
``START`` / ``END`` / ``REPORT`` lines, and a fresh init after any of those failures.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .error_paths import aws_error_body
from .lambda_logs import _exit_error, _frame, _init_start, _Output, _timestamp
from .runtime_api import Invocation, RuntimeApi

# Variables passed through from the executor's own environment in ``dir`` mode (the host's paths);
# everything else a handler sees comes from the function's configuration, as on AWS.
PASSTHROUGH_ENV = ("PATH",)
# Variables LocalStack sets that AWS does not: a handler relying on them would fail there.
DROPPED_ENV = (
    "LOCALSTACK_HOSTNAME",
    "EDGE_PORT",
    "LOCALSTACK_RUNTIME_ID",
    "LOCALSTACK_RUNTIME_ENDPOINT",
    "LOCALSTACK_FUNCTION_ACCOUNT_ID",
    "LOCALSTACK_USER",
    "LOCALSTACK_MAX_PAYLOAD_SIZE",
)
# What AWS's python3.X runtimes set besides the function's and the reserved variables (recorded on AWS:
# LocalStack's tests/aws/services/lambda_/test_lambda_common.snapshot.json, test_introspection_invoke).
AWS_RUNTIME_ENV = {
    "LAMBDA_TASK_ROOT": sandbox.TASK_ROOT,
    "LAMBDA_RUNTIME_DIR": sandbox.RUNTIME_DIR,
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:"
    "/var/task/lib:/opt/lib",
    "PYTHONPATH": sandbox.RUNTIME_DIR,
    "PWD": sandbox.TASK_ROOT,
    "SHLVL": "0",
    "LANG": "en_US.UTF-8",
    "LC_CTYPE": "C.UTF-8",
    "TZ": ":UTC",
}
# How often a running invocation's memory is checked (the result wait already wakes this often).
POLL_S = 0.05
INIT_TIMEOUT_S = 30.0
STOP_WAIT_S = 2.0


@dataclass(frozen=True)
class FunctionSpec:
    """What an environment needs to know about the function it runs."""

    python: str  # the runtime environment's interpreter (stdlib + the runtime's boto3 and awslambdaric)
    handler: str  # "module.function"
    task_root: Path  # unzipped code
    env: Mapping[str, str]  # reserved Lambda variables + the function's own
    timeout_s: float
    memory_mb: int = 128
    version: str = "$LATEST"
    extra_paths: Sequence[Path] = ()  # layer folders (/opt/python semantics), searched after the code
    ephemeral_mb: int = 512  # EphemeralStorage: the size of the private /tmp
    warning: str | None = None  # written into every invocation's log (e.g. another Python version)
    tmp_dir: Path | None = None  # where /tmp lives when no mount namespace is possible
    layer_dirs: Sequence[Path] = ()  # the layers' unzipped folders, merged at /opt in the sandbox


@dataclass(frozen=True)
class Outcome:
    """An invocation's result as Lambda reports it: body, FunctionError or not, and its log text."""

    payload: bytes
    is_error: bool
    logs: str


class ExecutionProcess:
    """A restartable runtime process plus the Runtime API it talks to."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()  # one invocation at a time, as in a real execution environment
        self._proc: subprocess.Popen[bytes] | None = None
        self._api: RuntimeApi | None = None
        self._output = _Output()
        self._init_ms: float | None = None
        self._stopped = False
        self._fallback_tmp: Path | None = None  # TMPDIR when no mount namespace is possible
        self._worker: int | None = None  # the process running the handler (PID 1 of its namespace)
        self._missing: tuple[str, ...] = ()  # the sandbox's guarantees this environment lacks

    # Lifecycle
    def start(self) -> None:
        """Cold start: spawn the runtime and wait until it has imported the handler (or failed to)."""
        with self._lock:
            self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._kill()
            if self._fallback_tmp is not None:
                shutil.rmtree(self._fallback_tmp, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def all_logs(self) -> str:
        return self._output.history()

    # Invocation
    def invoke(self, invocation: Invocation) -> Outcome:
        with self._lock:
            if self._stopped:
                raise RuntimeError("execution environment was stopped")
            if not self._alive():
                self._spawn()
            return self._invoke(invocation)

    def _invoke(self, invocation: Invocation) -> Outcome:
        assert self._api is not None and self._proc is not None
        request_id = invocation.request_id
        init_logs = self._output.take()
        init_ms, self._init_ms = self._init_ms, None
        if init_ms is not None:
            init_logs = _init_start(self.spec, self._missing) + init_logs
        if self._api.init_error is not None or not self._alive():
            payload = self._api.init_error or _exit_error(request_id, self._proc.poll())
            self._kill()
            logs = init_logs + _frame(request_id, self.spec, "", 0.0, init_ms, status="error")
            return Outcome(payload=payload, is_error=True, logs=logs)

        started = time.perf_counter()
        future = self._api.submit(invocation)
        deadline = started + self.spec.timeout_s
        result = None
        while result is None:
            try:
                result = future.result(timeout=max(0.0, min(POLL_S, deadline - time.perf_counter())))
            except FutureTimeout:
                if self._over_memory():
                    return self._out_of_memory(request_id, init_logs, init_ms, started)
                if not self._alive():
                    duration = (time.perf_counter() - started) * 1000
                    code = self._proc.poll()
                    self._kill()
                    body = self._output.take()
                    logs = init_logs + _frame(request_id, self.spec, body, duration, init_ms, status="error")
                    return Outcome(payload=_exit_error(request_id, code), is_error=True, logs=logs)
                if time.perf_counter() >= deadline:
                    return self._timed_out(request_id, init_logs, init_ms)
        if self._over_memory():
            return self._out_of_memory(request_id, init_logs, init_ms, started)
        duration = (time.perf_counter() - started) * 1000
        body = self._output.take()
        logs = init_logs + _frame(
            request_id, self.spec, body, duration, init_ms, max_memory=self._max_memory()
        )
        payload = result.payload
        if result.is_error:  # stack traces name /var/task/..., as on Lambda
            payload = aws_error_body(payload, self.spec.task_root, self.spec.extra_paths)
        return Outcome(payload=payload, is_error=result.is_error, logs=logs)

    def _over_memory(self) -> bool:
        """Peak memory over ``MemorySize``; only for a local process (a container has its own limit)."""
        pid = self._worker if self._worker is not None else getattr(self._proc, "pid", None)
        if not isinstance(pid, int):
            return False
        peak = sandbox.peak_rss_mb(pid)
        return peak is not None and peak > self.spec.memory_mb

    def _out_of_memory(
        self, request_id: str, init_logs: str, init_ms: float | None, started: float
    ) -> Outcome:
        """Kill the runtime, as Lambda's memory limit does, and report it the way AWS does."""
        peak = self._max_memory()
        self._kill()
        duration = (time.perf_counter() - started) * 1000
        message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
        body = self._output.take() + f"{message}\nRuntime.OutOfMemory\n"
        logs = init_logs + _frame(
            request_id,
            self.spec,
            body,
            duration,
            init_ms,
            status="error",
            max_memory=peak,
            error_type="Runtime.OutOfMemory",
        )
        payload = {"errorType": "Runtime.OutOfMemory", "errorMessage": message}
        return Outcome(payload=json.dumps(payload).encode(), is_error=True, logs=logs)

    def _timed_out(self, request_id: str, init_logs: str, init_ms: float | None) -> Outcome:
        """Kill the runtime, as Lambda does; the next invocation gets a fresh init."""
        self._kill()
        message = f"Task timed out after {self.spec.timeout_s:.2f} seconds"
        body = self._output.take() + f"{_timestamp()} {request_id} {message}\n"
        logs = init_logs + _frame(
            request_id, self.spec, body, self.spec.timeout_s * 1000, init_ms, status="timeout"
        )
        payload = {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: {message}",
        }
        return Outcome(payload=json.dumps(payload).encode(), is_error=True, logs=logs)

    # Process management
    def _spawn(self) -> None:
        self._kill()
        spec = self.spec
        self._api = RuntimeApi()
        env = {k: v for k, v in spec.env.items() if k not in DROPPED_ENV}
        isolated = spec.tmp_dir is None and sandbox.namespaces_available()
        if isolated:
            cmd, _ = sandbox.sandboxed_command(
                spec.python, spec.handler, spec.ephemeral_mb, spec.task_root, spec.layer_dirs
            )
            env.update(AWS_RUNTIME_ENV)
            self._missing = ()
        else:
            self._missing = sandbox.isolation().missing
            cmd = sandbox.plain_command(spec.python, spec.handler)
            env.update({k: os.environ[k] for k in PASSTHROUGH_ENV if k in os.environ})
            runtime_bin = str(Path(spec.python).parent)
            env.update(
                {
                    "LAMBDA_TASK_ROOT": str(spec.task_root),
                    "LAMBDA_RUNTIME_DIR": str(Path(runtime_bin).parent),
                    "PATH": os.pathsep.join(filter(None, (runtime_bin, env.get("PATH", "/usr/bin:/bin")))),
                    "PYTHONPATH": os.pathsep.join(str(p) for p in (spec.task_root, *spec.extra_paths)),
                    "PWD": str(spec.task_root),
                    "SHLVL": "0",
                    "LANG": "en_US.UTF-8",
                    "LC_CTYPE": "C.UTF-8",
                    "TZ": ":UTC",
                }
            )
            tmp_dir = spec.tmp_dir
            if tmp_dir is None:
                tmp_dir = self._fallback_tmp = self._fallback_tmp or Path(
                    tempfile.mkdtemp(prefix="lambda-tmp-")
                )
            tmp_dir.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(tmp_dir)
        env["AWS_LAMBDA_RUNTIME_API"] = self._api.address
        started = time.perf_counter()
        self._proc = subprocess.Popen(
            cmd,
            cwd=spec.task_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._output.attach(self._proc.stdout)
        deadline = started + INIT_TIMEOUT_S
        while not self._api.ready.wait(0.01):
            if self._proc.poll() is not None or time.perf_counter() > deadline:
                break  # reported by the first invocation, as Lambda reports init failures
        self._init_ms = (time.perf_counter() - started) * 1000
        self._worker = sandbox.worker_pid(self._proc.pid) if isolated else self._proc.pid

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        proc, api = self._proc, self._api
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_WAIT_S)
        if proc is not None:
            self._output.drain()
        if api is not None:
            api.close()
        self._api = None

    def _max_memory(self) -> int | None:
        pid = self._worker if self._worker is not None else getattr(self._proc, "pid", None)
        peak = sandbox.peak_rss_mb(pid) if isinstance(pid, int) else None
        return None if peak is None else min(math.ceil(peak), self.spec.memory_mb)
