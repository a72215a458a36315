"""The event path: a photo uploaded to S3 starts the classification state machine through EventBridge.

S3 sends every object event of the bucket to EventBridge's default bus (``EventBridgeConfiguration``,
one switch per bucket); a rule matches ``Object Created`` events whose key starts with the incoming
prefix and ends with a photo suffix, and targets the state machine with an input transformer that turns
the event into the workflow's own input, ``{"s3_bucket", "s3_key"}``. EventBridge assumes a role of its
own to start executions (least privilege: ``states:StartExecution`` on that one state machine).

The same requests go to every target; the builders are pure so the aws target's requests can be checked
with botocore's Stubber.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from harness import policies
from harness.aws_errors import is_not_found
from harness.config import Settings
from harness.iam import ensure_role, retry_role_propagation
from harness.names import EVENTS_ROLE, PHOTO_RULE, PHOTO_TARGET_ID

TARGET_ID = PHOTO_TARGET_ID
INPUT_TEMPLATE = '{"s3_bucket": <bucket>, "s3_key": <key>}'

Log = Callable[[str], None]


def incoming_key_prefix(settings: Settings) -> str:
    """The full key prefix photos are uploaded under (``<data_prefix><incoming_prefix>``)."""
    return f"{settings.data_prefix}{settings.incoming_prefix}"


def results_key_prefix(settings: Settings) -> str:
    """The full key prefix results are written under (``<data_prefix><results_prefix>``)."""
    return f"{settings.data_prefix}{settings.results_prefix}"


def photo_event_pattern(settings: Settings) -> dict[str, Any]:
    """``Object Created`` in the bucket, key = incoming prefix + anything + one of the photo suffixes.

    EventBridge ORs the values of one field, so "starts with X and ends with Y" is one ``wildcard`` per
    suffix (the prefix cannot hold ``*``, see Settings); a plain ``prefix`` would also match
    ``incoming/notes.txt``.
    """
    prefix = incoming_key_prefix(settings)
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [settings.bucket]},
            "object": {"key": [{"wildcard": f"{prefix}*{suffix}"} for suffix in settings.suffixes]},
        },
    }


def photo_target(state_machine_arn: str, role_arn: str) -> dict[str, Any]:
    """The rule's target: the state machine, started with ``{"s3_bucket", "s3_key"}``."""
    return {
        "Id": TARGET_ID,
        "Arn": state_machine_arn,
        "RoleArn": role_arn,
        "InputTransformer": {
            "InputPathsMap": {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"},
            "InputTemplate": INPUT_TEMPLATE,
        },
    }


def ensure_bucket_to_eventbridge(s3: Any, bucket: str) -> bool:
    """Turn on S3 -> EventBridge for ``bucket``, keeping its other notification configurations."""
    try:
        current = s3.get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        raise RuntimeError(f"bucket {bucket} does not exist: stage the data first (harness stage)") from None
    current.pop("ResponseMetadata", None)
    if "EventBridgeConfiguration" in current:
        return False
    current["EventBridgeConfiguration"] = {}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)
    return True


def ensure_rule(events: Any, name: str, pattern: dict[str, Any], description: str) -> bool:
    """Create the rule or bring its pattern up to date (PutRule is create-or-update)."""
    try:
        current = events.describe_rule(Name=name)
        if json.loads(current.get("EventPattern") or "{}") == pattern and current.get("State") == "ENABLED":
            return False
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED", Description=description)
    return True


def ensure_target(events: Any, rule: str, target: dict[str, Any]) -> bool:
    """Point ``rule`` at ``target`` unless it already is, field for field."""
    current = events.list_targets_by_rule(Rule=rule).get("Targets", [])
    if any({k: t.get(k) for k in target} == target for t in current):
        return False
    response = events.put_targets(Rule=rule, Targets=[target])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"PutTargets on rule {rule} failed: {response.get('FailedEntries')}")
    return True


def ensure_photo_events(
    settings: Settings, session_client: Callable[[str], Any], state_machine_arn: str, log: Log
) -> list[str]:
    """Bucket notifications, the events role, the rule and its target; returns the changes made."""
    s3, events, iam = (session_client(s) for s in ("s3", "events", "iam"))
    changes: list[str] = []
    if ensure_bucket_to_eventbridge(s3, settings.bucket):
        changes.append(f"bucket {settings.bucket}: EventBridge notifications")
        log(f"bucket {settings.bucket} now sends its events to EventBridge")
    role_arn, changed = ensure_role(
        iam,
        EVENTS_ROLE,
        policies.trust_policy("events.amazonaws.com"),
        policies.events_policy(state_machine_arn),
        log,
    )
    if changed:
        changes.append(f"role {EVENTS_ROLE}")
    pattern = photo_event_pattern(settings)
    description = f"Photos under s3://{settings.bucket}/{incoming_key_prefix(settings)} start the classifier"
    if ensure_rule(events, PHOTO_RULE, pattern, description):
        changes.append(f"rule {PHOTO_RULE}")
        log(f"rule {PHOTO_RULE}: {json.dumps(pattern['detail']['object']['key'])}")
    target = photo_target(state_machine_arn, role_arn)
    if retry_role_propagation(lambda: ensure_target(events, PHOTO_RULE, target)):
        changes.append(f"rule {PHOTO_RULE}: target")
    return changes
