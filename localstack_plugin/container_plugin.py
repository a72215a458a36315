"""The plux plugin for ``LAMBDA_RUNTIME_EXECUTOR=container`` (lazy, like LocalStack's own executors)."""

from __future__ import annotations

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class ContainerExecutorPlugin(RuntimeExecutorPlugin):
    name = "container"

    def load(self, *args: object, **kwargs: object) -> type:
        from localstack_plugin.container_executor import ContainerRuntimeExecutor

        return ContainerRuntimeExecutor
