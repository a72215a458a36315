"""The plux plugin LocalStack discovers on the ``localstack.lambda.runtime_executor`` entry point.

Select it with ``LAMBDA_RUNTIME_EXECUTOR=local``. Loading is lazy, as for LocalStack's own Docker
executor, so merely listing plugins imports nothing heavy.
"""

from __future__ import annotations

import logging

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

# Logged when LocalStack loads this executor (it does so on the first invocation); the contract test
# looks for it to tell that this executor, not LocalStack's Docker one, was selected.
LOADED_MESSAGE = "localstack_plugin: Lambda runtime executor %s loaded"


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = "local"

    def load(self, *args: object, **kwargs: object) -> type:
        from localstack_plugin.executor import LocalProcessRuntimeExecutor

        logging.getLogger("localstack_plugin").warning(LOADED_MESSAGE, self.name)
        return LocalProcessRuntimeExecutor
