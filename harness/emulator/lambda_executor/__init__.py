"""The LocalStack Lambda runtime-executor plugin (a separate distribution installed into LocalStack's venv).

This folder is its own small project (see ``pyproject.toml`` here): LocalStack loads it through the
``localstack.lambda.runtime_executor`` entry point. The package inside, ``local_lambda_executor``, imports
nothing from ``harness``; the harness only installs it and tests its stdlib-only parts.
"""
