"""Fill ``LastUpdateStatusReason`` when a function update fails, as AWS does.

LocalStack 4.9.2 records a failed update as ``LastUpdateStatus: Failed`` with no reason and no code
(``LambdaService.update_version_state`` builds ``UpdateStatus(status=Failed)``), so a function updated
to a runtime whose Python is missing here would not say why. This wraps that method: after it ran for
a ``Failed`` state, the stored version's ``last_update`` gets the state's code and reason (the message
of the executor's ``prepare_version``, which names the missing interpreter and how to get one).

LocalStack bug fix: yes (parity). Upstream code: ``LambdaService.update_version_state`` in
``localstack/services/lambda_/invocation/lambda_service.py``, unfixed in the archived repository (2026-03);
no upstream issue found.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.lambda_.invocation.lambda_service",
        "LambdaService.update_version_state",
        "(self, function_version: localstack.services.lambda_.invocation.lambda_models.FunctionVersion, new_state: localstack.services.lambda_.invocation.lambda_models.VersionState) -> None",  # noqa: E501 (a signature, as inspect prints it)
    ),
)


@hooks.on_infra_start()
def record_failed_update_reason() -> None:
    require_localstack_version("lambda_update_reason")
    from localstack.services.lambda_.invocation import lambda_service
    from localstack.services.lambda_.invocation.lambda_models import State, UpdateStatus
    from localstack.services.lambda_.invocation.models import lambda_stores

    original = lambda_service.LambdaService.update_version_state

    def update_version_state(self: Any, function_version: Any, new_state: Any) -> None:
        original(self, function_version, new_state)
        if new_state.state != State.Failed or not new_state.reason:
            return
        version_id = function_version.id
        function = lambda_stores[version_id.account][version_id.region].functions.get(
            version_id.function_name
        )
        current = function.versions.get(version_id.qualifier) if function else None
        if current is None or current.config.last_update is None or current.config.last_update.reason:
            return
        last_update = UpdateStatus(
            status=current.config.last_update.status, code=new_state.code, reason=new_state.reason
        )
        function.versions[version_id.qualifier] = dataclasses.replace(
            current, config=dataclasses.replace(current.config, last_update=last_update)
        )

    lambda_service.LambdaService.update_version_state = update_version_state
    applied("lambda_update_reason")
