"""EventBridge rules can start a state machine with an input transformer, as on AWS.

LocalStack 4.9.2's Step Functions target names each execution after the event's ``id``, reading it from
the event *after* the target's input transformer ran: with a transformer (the photo rule turns the S3
event into ``{"s3_bucket", "s3_key"}``) there is no ``id`` and every delivery fails with
``Failed to deliver to target ...: 'id'``. AWS starts the execution either way, under a generated name.
This patch names it after the event's id when the event still has one and a fresh UUID otherwise.

LocalStack bug fix: yes. Upstream code: ``StatesTargetSender.send_event`` in
``localstack/services/events/target.py`` (``name=event["id"]``); unfixed in the archived repository
(2026-03); no upstream issue found.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import uuid
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.events.target",
        "StatesTargetSender.send_event",
        "(self, event, trace_header)",
    ),
)


def execution_name(event: Any) -> str:
    """The name of the execution a delivery starts (at most 80 characters, as StartExecution allows)."""
    if isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"]:
        return event["id"][:80]
    return str(uuid.uuid4())


@hooks.on_infra_start()
def states_target_without_id() -> None:
    require_localstack_version("events_sfn_target")
    from localstack.services.events.target import StatesTargetSender
    from localstack.services.events.utils import to_json_str

    def send_event(self: Any, event: Any, trace_header: Any) -> None:
        self.service = "stepfunctions"
        self.client.start_execution(
            stateMachineArn=self.target["Arn"], name=execution_name(event), input=to_json_str(event)
        )

    StatesTargetSender.send_event = send_event
    applied("events_sfn_target")
