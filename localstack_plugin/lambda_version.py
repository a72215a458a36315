"""What both executors (local process, container) read from LocalStack's ``FunctionVersion`` and payloads.

LocalStack hands an executor the function's version (configuration, unzipped code) and, per invocation,
a payload dict; this module is the one place that turns them into this package's :class:`FunctionSpec`
and :class:`Invocation`, so the two executors cannot drift apart on what a function's timeout, memory
or ``/tmp`` size is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

from .environment import FunctionSpec
from .runtime_api import Invocation


def require_zip(function_version: FunctionVersion, executor: str) -> None:
    cfg = function_version.config
    if cfg.package_type != "Zip" or cfg.code is None:
        raise LambdaRuntimeException(f"the {executor} executor runs zip-packaged functions only, not images")


def function_spec(
    function_version: FunctionVersion, env_vars: dict[str, str], python: str, **extra: Any
) -> FunctionSpec:
    """The spec of one execution environment; ``extra`` are the executor's own fields (layers, /tmp)."""
    cfg = function_version.config
    env = {k: str(v) for k, v in env_vars.items()}
    env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{cfg.runtime}"
    storage = getattr(cfg, "ephemeral_storage", None)
    return FunctionSpec(
        python=python,
        handler=cfg.handler,
        task_root=Path(cfg.code.get_unzipped_code_location()),
        env=env,
        timeout_s=float(cfg.timeout),
        memory_mb=int(cfg.memory_size),
        version=function_version.id.qualifier,
        ephemeral_mb=int(getattr(storage, "size", 512) or 512),
        **extra,
    )


def invocation(function_version: FunctionVersion, payload: dict[str, str]) -> Invocation:
    """One invocation, its deadline the function's timeout from now (as Lambda's clock starts)."""
    timeout_ms = int(function_version.config.timeout) * 1000
    return Invocation(
        request_id=payload["invoke-id"],
        payload=payload["payload"].encode(),
        function_arn=payload["invoked-function-arn"],
        deadline_ms=int(time.time() * 1000) + timeout_ms,
        trace_id=payload.get("trace-id"),
    )
