"""Reuse Step Functions' task clients across tasks, instead of building one per task.

LocalStack's Step Functions engine calls ``boto_client_for`` for every Lambda task: it assumes the
state machine's role (an in-memory STS call returning fresh credentials) and builds a new boto3
client for them. Building a botocore client costs tens of milliseconds, which made a 3-task
workflow execution take ~190 ms on a 2-core machine, most of it client construction. Caching the
client per (service, region, role) for a few minutes keeps the role semantics (the client still
carries credentials of that role; they are renewed well before STS's one-hour expiry) and removes
that cost. LocalStack Community does not enforce IAM, so nothing observable changes but latency.

LocalStack bug fix: no: a performance change. Upstream code: ``boto_client_for`` in
``localstack/services/stepfunctions/asl/utils/boto_client.py``.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

# STS credentials last an hour by default; renew well before that.
CLIENT_TTL_S = 600.0
_SIGNATURE = (
    "(service: str, region: str, state_credentials: localstack.services.stepfunctions.asl.component.state."
    "state_execution.state_task.credentials.StateCredentials) -> botocore.client.BaseClient"
)
REPLACES = (
    Replaces("localstack.services.stepfunctions.asl.utils.boto_client", "boto_client_for", _SIGNATURE),
    # The Lambda task module imported the function by name: that reference is the one replaced.
    Replaces(
        "localstack.services.stepfunctions.asl.component.state.state_execution.state_task.lambda_eval_utils",
        "boto_client_for",
        _SIGNATURE,
    ),
)


@hooks.on_infra_start()
def cache_state_task_clients() -> None:
    require_localstack_version("sfn_clients")
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import (
        lambda_eval_utils,
    )
    from localstack.services.stepfunctions.asl.utils import boto_client

    original = boto_client.boto_client_for
    cache: dict[tuple[str, str, str], tuple[float, Any]] = {}
    lock = threading.Lock()

    def cached_boto_client_for(service: str, region: str, state_credentials: Any) -> Any:
        key = (service, region, getattr(state_credentials, "role_arn", "") or "")
        now = time.monotonic()
        with lock:
            hit = cache.get(key)
            if hit is not None and now - hit[0] < CLIENT_TTL_S:
                return hit[1]
        client = original(service=service, region=region, state_credentials=state_credentials)
        with lock:
            cache[key] = (now, client)
        return client

    # The Lambda task module imported the function by name, so patch that reference.
    lambda_eval_utils.boto_client_for = cached_boto_client_for
    applied("sfn_clients")
