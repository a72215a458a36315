"""LocalStack's ``RuntimeExecutor`` interface, implemented with local processes (:mod:`.environment`).

LocalStack owns the Lambda API, environment assignment (one environment per concurrent invocation),
keep-alive, CloudWatch Logs and ``LogType=Tail``; this class only starts, invokes and stops one
environment. Each function runs on the Python of its ``Runtime``, in that runtime's own environment
(:mod:`.runtimes`: stdlib + the runtime's pinned boto3/botocore and awslambdaric), never with
LocalStack's or the harness's packages. The environment is resolved (and built the first time) in
``prepare_version``, so a missing interpreter leaves the function ``Failed`` with a reason that says
what is missing and how to get it, as AWS reports a function that cannot become ``Active``.

Settings (environment variables of the LocalStack process; the harness sets them from its settings):
``LAMBDA_PYTHON_INTERPRETERS`` (``python3.12=/path,...``), ``LAMBDA_PYTHON_FALLBACK`` (``1``: run on
another version when the declared one is missing, with a warning in every invocation's log),
``LAMBDA_RUNTIME_CACHE`` (where runtime environments are built), ``LAMBDA_TMP_ISOLATION`` (``namespace``,
the default: AWS's file-system view where the OS allows it; ``dir``: never, each environment gets a
``TMPDIR`` of its own). The isolation is decided once, when LocalStack validates the executor, before any
environment starts (:func:`.sandbox.isolation`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from . import lambda_version, runtimes, sandbox
from .environment import ExecutionProcess

LOG = logging.getLogger(__name__)
PYTHON_ENV = "LAMBDA_EXECUTOR_PYTHON"  # the last-resort fallback interpreter
_envs: dict[str, runtimes.RuntimeEnv] = {}
_envs_lock = threading.Lock()


def _cache_dir() -> Path:
    configured = os.environ.get("LAMBDA_RUNTIME_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scones-harness" / "lambda-runtimes"


def _fallback(runtime: str) -> str | None:
    """With LAMBDA_PYTHON_FALLBACK on: the nearest other supported version found, else our own Python."""
    if os.environ.get("LAMBDA_PYTHON_FALLBACK", "").lower() not in ("1", "true", "yes", "on"):
        return None
    wanted = runtimes.SUPPORTED.index(runtime)
    for other in sorted(runtimes.SUPPORTED, key=lambda r: abs(runtimes.SUPPORTED.index(r) - wanted)):
        if other == runtime:
            continue
        with contextlib.suppress(runtimes.RuntimeNotAvailable):
            return str(runtimes.find_interpreter(other, mapping=_mapping()).path)
    return os.environ.get(PYTHON_ENV) or sys.executable


def _mapping() -> dict[str, str]:
    return runtimes.parse_mapping(os.environ.get("LAMBDA_PYTHON_INTERPRETERS", ""))


def runtime_env(runtime: str) -> runtimes.RuntimeEnv:
    """The (cached) environment of ``runtime``; raises :class:`runtimes.RuntimeNotAvailable`."""
    with _envs_lock:
        env = _envs.get(runtime)
        if env is not None and env.python.is_file():
            return env
        interpreter = runtimes.find_interpreter(runtime, mapping=_mapping(), fallback=_fallback(runtime))
        env = runtimes.ensure_runtime_env(interpreter, _cache_dir())
        if not interpreter.exact:
            LOG.warning(
                "runtime %s has no Python %s here: running on Python %s (LAMBDA_PYTHON_FALLBACK)",
                runtime,
                runtimes.runtime_version(runtime),
                interpreter.version,
            )
        _envs[runtime] = env
        return env


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """Each execution environment is one long-lived ``python -m awslambdaric <handler>`` process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self._process: ExecutionProcess | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        cfg = self.function_version.config
        lambda_version.require_zip(self.function_version, "local")
        if not str(cfg.runtime or "").startswith("python"):
            raise LambdaRuntimeException(f"the local executor runs Python runtimes only, not {cfg.runtime}")
        try:
            renv = runtime_env(cfg.runtime)
        except runtimes.RuntimeNotAvailable as exc:
            raise LambdaRuntimeException(str(exc)) from exc
        layers, layer_dirs = [], []
        for layer in cfg.layers:  # /opt/python and /opt/python/lib/python3.X/site-packages, in that order
            layer_dirs.append(Path(layer.code.get_unzipped_code_location()))
            root = layer_dirs[-1] / "python"
            layers += [root / "lib" / cfg.runtime / "site-packages", root]
        warning = None
        if not renv.interpreter.exact:
            warning = (
                f"runtime {cfg.runtime} is running on Python {renv.interpreter.version} "
                "(LAMBDA_PYTHON_FALLBACK): AWS runs it on Python "
                f"{runtimes.runtime_version(cfg.runtime)}; a pass here may not be a pass there"
            )
        tmp_dir = None if sandbox.namespaces_available() else _cache_dir().parent / "lambda-tmp" / self.id
        spec = lambda_version.function_spec(
            self.function_version,
            env_vars,
            str(renv.python),
            extra_paths=layers,
            warning=warning,
            tmp_dir=tmp_dir,
            layer_dirs=layer_dirs,
        )
        self._process = ExecutionProcess(spec)
        self._process.start()
        LOG.debug("execution environment %s runs as pid %s", self.id, self._process.pid)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            if self._process.spec.tmp_dir is not None:
                shutil.rmtree(self._process.spec.tmp_dir, ignore_errors=True)

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        host = config.GATEWAY_LISTEN[0].host
        return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self._process is None:
            raise LambdaRuntimeException(f"execution environment {self.id} was not started")
        invocation = lambda_version.invocation(self.function_version, payload)
        outcome = self._process.invoke(invocation)
        return InvocationResult(invocation.request_id, outcome.payload, outcome.is_error, outcome.logs)

    def get_logs(self) -> str:
        return self._process.all_logs() if self._process else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Resolve (and build) the runtime environment, then unzip the code and layers once per version.

        Raising here leaves the version ``Failed`` with the message as its ``StateReason``.
        """
        cfg = function_version.config
        if cfg.package_type == "Zip":
            try:
                runtime_env(str(cfg.runtime))
            except runtimes.RuntimeNotAvailable as exc:
                raise LambdaRuntimeException(str(exc)) from exc
        if cfg.code:
            cfg.code.prepare_for_execution()
        for layer in cfg.layers:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass  # the unzipped code belongs to LocalStack's code store, which removes it

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            _mapping()
        except runtimes.RuntimeNotAvailable as exc:
            LOG.warning("local Lambda executor: LAMBDA_PYTHON_INTERPRETERS: %s", exc)
            return False
        try:
            decided = sandbox.isolation()  # once, before any environment: all of them get the same
        except ValueError as exc:
            LOG.warning("local Lambda executor: %s", exc)
            return False
        if decided.missing:
            LOG.warning("local Lambda executor: isolation %s (%s)", decided.mode, decided.reason)
        return True
