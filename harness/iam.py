"""IAM roles the harness keeps: create-or-update one role, and wait out IAM's propagation on AWS.

Every part that needs a role (the functions, the state machines, EventBridge, SageMaker's execution role)
goes through :func:`ensure_role`, so a role is always tagged as the harness's (:mod:`harness.ownership`)
and its trust and inline policy are compared before they are written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from harness import ownership
from harness.aws_errors import error_code, error_message, is_not_found

Log = Callable[[str], None]


def ensure_role(
    iam: Any, name: str, trust: dict, policy: dict, log: Log, adopt: bool = False
) -> tuple[str, bool]:
    """Create the role or bring its trust and inline policy up to date; returns (arn, changed)."""
    changed = False
    try:
        role = iam.get_role(RoleName=name)["Role"]
        ownership.claim(
            "IAM role",
            name,
            ownership.role_owned(role),
            adopt,
            lambda: iam.tag_role(RoleName=name, Tags=ownership.iam_tags()),
            log,
        )
        current_trust = role.get("AssumeRolePolicyDocument")
        if isinstance(current_trust, str):
            current_trust = json.loads(current_trust)
        if current_trust != trust:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            changed = True
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        try:
            role = iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Tags=ownership.iam_tags()
            )["Role"]
        except ClientError as race:
            # IAM is global: another run (another region, another home) created it since GetRole.
            if error_code(race) != "EntityAlreadyExists":
                raise
            return ensure_role(iam, name, trust, policy, log, adopt)
        log(f"created role {name}")
        changed = True
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=name)["PolicyDocument"]
        if isinstance(current, str):
            current = json.loads(current)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        current = None
    if current != policy:
        iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        changed = True
    return role["Arn"], changed


# Error codes with which services refuse a role IAM has not finished propagating (Lambda, Step Functions,
# SageMaker); only those whose message talks about assuming the role are retried.
_ROLE_NOT_READY_CODES = ("InvalidParameterValueException", "AccessDeniedException", "ValidationException")


def retry_role_propagation(call: Callable[[], Any], attempts: int = 10) -> Any:
    """IAM is eventually consistent on AWS: a fresh role can be refused for a few seconds."""
    for i in range(attempts):
        try:
            return call()
        except ClientError as exc:
            message = error_message(exc).lower()
            if error_code(exc) not in _ROLE_NOT_READY_CODES or "assume" not in message or i == attempts - 1:
                raise
            time.sleep(min(2**i, 10))
    raise AssertionError("unreachable")
