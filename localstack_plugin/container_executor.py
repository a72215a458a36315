"""LocalStack's ``RuntimeExecutor`` with each execution environment in its own container.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=container`` (docker-compose.yml does): the `localstack` target's
functions run in containers of the runtime image the project builds (docker/lambda-python.Dockerfile),
started through the docker socket mounted into LocalStack's container. LocalStack's own Docker executor
(``LAMBDA_RUNTIME_EXECUTOR=docker``) stays selectable; it downloads its init binary and pulls images.

Configuration (environment of the LocalStack process):
``LAMBDA_CONTAINER_IMAGE`` the runtime image (python3.11 only), ``LAMBDA_CONTAINER_NETWORK`` the network
the containers join, ``LAMBDA_CONTAINER_RUNTIME_HOST`` this container's name on it (where the runtime
reaches its Runtime API), ``LAMBDA_CONTAINER_LABEL`` the stack's name, put on every container as
``scones-lambda.stack`` so the stack's teardown finds them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from . import lambda_version
from .container_environment import LABEL_PREFIX, ContainerSpecError, ExecutionContainer

LOG = logging.getLogger(__name__)
SUPPORTED_RUNTIMES = ("python3.11",)
_client: Any = None


def _docker() -> Any:
    global _client
    if _client is None:
        import docker

        _client = docker.from_env()
    return _client


def _setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise LambdaRuntimeException(f"the container executor needs {name} to be set")
    return value


class ContainerRuntimeExecutor(RuntimeExecutor):
    """One container per execution environment; LocalStack owns assignment, keep-alive and logs."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id, function_version)
        self._env: ExecutionContainer | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        cfg = self.function_version.config
        lambda_version.require_zip(self.function_version, "container")
        if cfg.runtime not in SUPPORTED_RUNTIMES:
            raise LambdaRuntimeException(
                f"the container executor has a runtime image for {', '.join(SUPPORTED_RUNTIMES)} only, "
                f"not {cfg.runtime}"
            )
        spec = lambda_version.function_spec(self.function_version, env_vars, "python")
        stack = os.environ.get("LAMBDA_CONTAINER_LABEL", "localstack")
        self._env = ExecutionContainer(
            spec,
            client=_docker(),
            image=_setting("LAMBDA_CONTAINER_IMAGE"),
            network=os.environ.get("LAMBDA_CONTAINER_NETWORK") or None,
            runtime_host=_setting("LAMBDA_CONTAINER_RUNTIME_HOST"),
            labels={
                f"{LABEL_PREFIX}.stack": stack,
                f"{LABEL_PREFIX}.function": self.function_version.id.function_name,
                f"{LABEL_PREFIX}.environment": self.id,
            },
            layer_dirs=[Path(layer.code.get_unzipped_code_location()) for layer in cfg.layers],
            name_prefix=f"{stack}-lambda-{self.function_version.id.function_name}"[:50],
        )
        try:
            self._env.start()
        except ContainerSpecError as exc:
            raise LambdaRuntimeException(str(exc)) from exc
        LOG.debug("execution environment %s runs in container %s", self.id, self._env.container_id)

    def stop(self) -> None:
        if self._env is not None:
            self._env.stop()

    def get_address(self) -> str:
        return _setting("LAMBDA_CONTAINER_RUNTIME_HOST")

    def get_endpoint_from_executor(self) -> str:
        return _setting("LAMBDA_CONTAINER_RUNTIME_HOST")

    def get_runtime_endpoint(self) -> str:
        return f"http://{self.get_endpoint_from_executor()}:4566/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        if self._env is None:
            raise LambdaRuntimeException(f"execution environment {self.id} was not started")
        invocation = lambda_version.invocation(self.function_version, payload)
        try:
            outcome = self._env.invoke(invocation)
        except ContainerSpecError as exc:
            raise LambdaRuntimeException(str(exc)) from exc
        return InvocationResult(invocation.request_id, outcome.payload, outcome.is_error, outcome.logs)

    def get_logs(self) -> str:
        return self._env.all_logs() if self._env else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        cfg = function_version.config
        if cfg.code:
            cfg.code.prepare_for_execution()
        for layer in cfg.layers:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            _docker().ping()
        except Exception as exc:
            LOG.warning("container Lambda executor: no Docker engine: %s", exc)
            return False
        return True
