"""At most ``HARNESS_LAMBDA_MAX_ENVIRONMENTS`` execution environments per function; later invocations wait.

LocalStack 4.9.2 starts a new execution environment for every invocation that finds none idle
(``AssignmentService.get_environment``), as Lambda scales out. On Lambda that costs nothing here; on
this machine each environment is a Python process (or a container), so 500 Step Functions executions
in flight at once started about 1 500 processes across the workflow's three functions at the same
moment: the 2-core machine spent minutes forking and importing, and no execution finished within its
deadline.

This wraps ``get_environment``: an on-demand invocation that finds no idle environment of its function
while the function already has the maximum (counting those still starting) waits until one of that
function's invocations ends, then takes that environment. Waiting is per function, so functions that
call each other (a state machine's tasks) cannot starve one another. It changes only latency, never an
outcome that AWS would give: a function's ``Timeout`` counts from the start of its invocation, as on
AWS, and nothing is throttled (AWS would scale out instead, up to the account's concurrency). It is a
soft cap: two invocations that race for one idle environment may start one more.

``HARNESS_LAMBDA_MAX_ENVIRONMENTS`` (default 32; ``0`` = no cap, LocalStack's behaviour).
LocalStack bug fix: no: a resource cap this machine needs (AWS has no such cap). Upstream code:
``AssignmentService.get_environment`` in ``localstack/services/lambda_/invocation/assignment.py``.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.lambda_.invocation.assignment",
        "AssignmentService.get_environment",
        "(self, version_manager_id: str, function_version: localstack.services.lambda_.invocation.lambda_models.FunctionVersion, provisioning_type: Literal['on-demand', 'provisioned-concurrency']) -> contextlib.AbstractContextManager[localstack.services.lambda_.invocation.execution_environment.ExecutionEnvironment]",  # noqa: E501 (a signature, as inspect prints it)
    ),
)

CAP_ENV = "HARNESS_LAMBDA_MAX_ENVIRONMENTS"
DEFAULT_CAP = 32
# A waiter looks again this often even without a wake-up (an environment stopped by its idle timeout
# frees a slot without ending an invocation).
_RECHECK_S = 0.5


def cap() -> int:
    raw = os.environ.get(CAP_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_CAP
    except ValueError as exc:
        raise ValueError(f"{CAP_ENV} must be a whole number (0 for no cap), got {raw!r}") from exc
    if value < 0:
        raise ValueError(f"{CAP_ENV} must be 0 (no cap) or more, got {value}")
    return value


class EnvironmentSlots:
    """Per function (LocalStack's version manager id): environments starting, and a condition to wait on."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._starting: dict[str, int] = defaultdict(int)
        self._released: dict[str, threading.Condition] = defaultdict(lambda: threading.Condition(self._lock))

    def acquire(self, manager: str, environments: dict[str, Any]) -> bool:
        """Wait until an environment is idle or there is room for one more; True when one will start."""
        released = self._released[manager]
        with self._lock:
            while True:
                if any(_idle(env) for env in list(environments.values())):
                    return False
                if len(environments) + self._starting[manager] < self.limit:
                    self._starting[manager] += 1
                    return True
                released.wait(_RECHECK_S)

    def started(self, manager: str) -> None:
        with self._lock:
            self._starting[manager] -= 1

    def release(self, manager: str) -> None:
        with self._lock:
            self._released[manager].notify()


def _idle(environment: Any) -> bool:
    from localstack.services.lambda_.invocation.execution_environment import RuntimeStatus

    return environment.initialization_type == "on-demand" and environment.status == RuntimeStatus.READY


@hooks.on_infra_start()
def cap_environments_per_function() -> None:
    require_localstack_version("lambda_environment_cap")
    limit = cap()
    if limit == 0:
        return
    from localstack.services.lambda_.invocation.assignment import AssignmentService

    original = AssignmentService.get_environment
    slots = EnvironmentSlots(limit)

    @contextlib.contextmanager
    def get_environment(
        self: Any, version_manager_id: str, function_version: Any, provisioning_type: Any
    ) -> Iterator[Any]:
        if provisioning_type != "on-demand":
            with original(self, version_manager_id, function_version, provisioning_type) as environment:
                yield environment
            return
        starting = slots.acquire(version_manager_id, self.environments[version_manager_id])
        try:
            with original(self, version_manager_id, function_version, provisioning_type) as environment:
                if starting:
                    slots.started(version_manager_id)
                    starting = False
                yield environment
        finally:
            if starting:  # the start failed: its slot is free again
                slots.started(version_manager_id)
            slots.release(version_manager_id)

    AssignmentService.get_environment = get_environment
    applied("lambda_environment_cap")
