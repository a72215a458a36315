"""The plux plugin LocalStack discovers on the ``localstack.lambda.runtime_executor`` entry point.

Select it with ``LAMBDA_RUNTIME_EXECUTOR=local``. Loading is lazy, as for LocalStack's own Docker
executor, so merely listing plugins imports nothing heavy.
"""

from __future__ import annotations

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = "local"

    def load(self, *args: object, **kwargs: object) -> type:
        from localstack_plugin.executor import LocalProcessRuntimeExecutor

        return LocalProcessRuntimeExecutor
