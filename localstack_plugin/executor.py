"""LocalStack's ``RuntimeExecutor`` interface, implemented with local processes (:mod:`.environment`).

LocalStack owns the Lambda API, environment assignment (one environment per concurrent invocation),
keep-alive, CloudWatch Logs and ``LogType=Tail``; this class only starts, invokes and stops one
environment. Handlers run with the interpreter named by ``LAMBDA_EXECUTOR_PYTHON`` (the caller's own
environment with ``awslambdaric`` and its boto3), never with LocalStack's.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from .environment import ExecutionProcess, FunctionSpec
from .runtime_api import Invocation

LOG = logging.getLogger(__name__)
PYTHON_ENV = "LAMBDA_EXECUTOR_PYTHON"


def _python() -> str:
    python = os.environ.get(PYTHON_ENV, "")
    if not python or not Path(python).is_file():
        raise LambdaRuntimeException(
            f"{PYTHON_ENV} must name a Python interpreter that has awslambdaric installed (got {python!r})"
        )
    return python


class LocalProcessRuntimeExecutor(RuntimeExecutor):
    """Each execution environment is one long-lived ``python -m awslambdaric <handler>`` process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self._process: ExecutionProcess | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        cfg = self.function_version.config
        if cfg.package_type != "Zip" or cfg.code is None:
            raise LambdaRuntimeException("the local executor runs zip-packaged functions only, not images")
        if not str(cfg.runtime or "").startswith("python"):
            raise LambdaRuntimeException(f"the local executor runs Python runtimes only, not {cfg.runtime}")
        env = {k: str(v) for k, v in env_vars.items()}
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{cfg.runtime}"
        layers = [layer.code.get_unzipped_code_location() / "python" for layer in cfg.layers]
        spec = FunctionSpec(
            python=_python(),
            handler=cfg.handler,
            task_root=Path(cfg.code.get_unzipped_code_location()),
            env=env,
            timeout_s=float(cfg.timeout),
            memory_mb=int(cfg.memory_size),
            version=self.function_version.id.qualifier,
            extra_paths=layers,
        )
        self._process = ExecutionProcess(spec)
        self._process.start()
        LOG.debug("execution environment %s runs as pid %s", self.id, self._process.pid)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

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
        timeout_ms = int(self.function_version.config.timeout) * 1000
        invocation = Invocation(
            request_id=payload["invoke-id"],
            payload=payload["payload"].encode(),
            function_arn=payload["invoked-function-arn"],
            deadline_ms=int(time.time() * 1000) + timeout_ms,
            trace_id=payload.get("trace-id"),
        )
        outcome = self._process.invoke(invocation)
        return InvocationResult(invocation.request_id, outcome.payload, outcome.is_error, outcome.logs)

    def get_logs(self) -> str:
        return self._process.all_logs() if self._process else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Unzip the code (and layers) once per version, as the Docker executor does."""
        cfg = function_version.config
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
            _python()
        except LambdaRuntimeException as exc:
            LOG.warning("local Lambda executor: %s", exc)
            return False
        return True
