"""``harness deploy``: IAM roles, four functions, the state machine and its photo events, create-or-update.

Idempotent by comparison, not by deletion: a function's code is updated only
when the SHA-256 of its (deterministic) zip changed, its configuration only when
a field differs, and the state machine only when its definition or role did.
A second deploy of the same tree therefore changes nothing and says so.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from harness import assets, events, ownership, policies
from harness.aws_errors import is_not_found
from harness.config import Settings
from harness.iam import ensure_role, retry_role_propagation
from harness.names import (
    ARN_PLACEHOLDERS,
    FUNCTIONS,
    LAMBDA_ROLE,
    STATE_MACHINE,
    STATEMACHINE_FILE_NAME,
    STATES_ROLE,
)
from harness.targets.base import Target

LAMBDAS_DIR = assets.lambdas_dir()
STATEMACHINE_FILE = assets.statemachine_dir() / STATEMACHINE_FILE_NAME
RUNTIME = "python3.11"
HANDLER = "lambda_function.lambda_handler"
TIMEOUT_S = 30
MEMORY_MB = 256

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

Log = Callable[[str], None]


@dataclass
class DeployResult:
    """ARNs of what was deployed and the list of changes made (empty when all was up to date)."""

    function_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    lambda_role_arn: str = ""
    states_role_arn: str = ""
    changes: list[str] = field(default_factory=list)


def zip_function(name: str, root: Path = LAMBDAS_DIR) -> bytes:
    """A deterministic zip of ``lambdas/<name>`` (fixed timestamps and order, no caches)."""
    folder = root / name
    if not (folder / "lambda_function.py").is_file():
        raise FileNotFoundError(f"{folder}/lambda_function.py not found")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def code_sha256(zip_bytes: bytes) -> str:
    """The value Lambda reports as ``CodeSha256``: base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()


def render_definition(function_arns: dict[str, str], path: Path = STATEMACHINE_FILE) -> str:
    """The ASL definition with every ``${...}`` substituted; a missing ARN is an error, not a blank."""
    mapping = {ARN_PLACEHOLDERS[name]: arn for name, arn in function_arns.items()}

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in mapping:
            raise KeyError(f"{path.name}: no value for ${{{match.group(1)}}}")
        return mapping[match.group(1)]

    # Only ${Name} is a placeholder: JSONPath's "$" and "$.Payload" must pass through untouched.
    text = _PLACEHOLDER.sub(substitute, path.read_text())
    json.loads(text)  # fail here, with a JSON error, rather than in CreateStateMachine
    return text


def function_environment(settings: Settings, target: Target) -> dict[str, str]:
    """What the functions read from their environment, plus the target's endpoint variables."""
    return {
        "ENDPOINT_NAME": settings.endpoint_name,
        "THRESHOLD": str(settings.threshold),
        "DATA_BUCKET": settings.bucket,
        "DATA_PREFIX": settings.data_prefix,
        "RESULTS_PREFIX": events.results_key_prefix(settings),
        **target.function_env(),
    }


def ensure_function(
    lam: Any,
    name: str,
    role_arn: str,
    env: dict[str, str],
    log: Log,
    root: Path = LAMBDAS_DIR,
    adopt: bool = False,
) -> tuple[str, list[str]]:
    """Create the function, or update its code and configuration where they differ."""
    body = zip_function(name, root)
    wanted = {
        "Role": role_arn,
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Timeout": TIMEOUT_S,
        "MemorySize": MEMORY_MB,
        "Environment": {"Variables": env},
    }
    changes: list[str] = []
    try:
        function = lam.get_function(FunctionName=name)
        current = function["Configuration"]
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        created = retry_role_propagation(
            lambda: lam.create_function(
                FunctionName=name,
                Code={"ZipFile": body},
                Publish=False,
                Tags=ownership.lambda_tags(),
                **wanted,
            )
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        log(f"created function {name}")
        return created["FunctionArn"], [f"function {name}: created"]
    ownership.claim(
        "Lambda function",
        name,
        ownership.function_owned(function),
        adopt,
        lambda: lam.tag_resource(Resource=current["FunctionArn"], Tags=ownership.lambda_tags()),
        log,
    )

    if current.get("CodeSha256") != code_sha256(body):
        lam.update_function_code(FunctionName=name, ZipFile=body)
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        changes.append(f"function {name}: code")
    current_env = current.get("Environment", {}).get("Variables", {})
    differs = [k for k, v in wanted.items() if k != "Environment" and current.get(k) != v]
    if current_env != env:
        differs.append("Environment")
    if differs:
        retry_role_propagation(lambda: lam.update_function_configuration(FunctionName=name, **wanted))
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        changes.append(f"function {name}: {', '.join(differs)}")
    for change in changes:
        log(f"updated {change}")
    return current["FunctionArn"], changes


def ensure_state_machine(
    sfn: Any, name: str, definition: str, role_arn: str, log: Log, adopt: bool = False
) -> tuple[str, bool]:
    """Create the state machine or update it when its definition or role changed."""
    arn = None
    for page in sfn.get_paginator("list_state_machines").paginate():
        for sm in page["stateMachines"]:
            if sm["name"] == name:
                arn = sm["stateMachineArn"]
    if arn is None:
        arn = retry_role_propagation(
            lambda: sfn.create_state_machine(
                name=name, definition=definition, roleArn=role_arn, tags=ownership.sfn_tags()
            )
        )["stateMachineArn"]
        log(f"created state machine {name}")
        return arn, True
    found = arn
    ownership.claim(
        "state machine",
        name,
        ownership.state_machine_owned(sfn, found),
        adopt,
        lambda: sfn.tag_resource(resourceArn=found, tags=ownership.sfn_tags()),
        log,
    )
    current = sfn.describe_state_machine(stateMachineArn=arn)
    if json.loads(current["definition"]) != json.loads(definition) or current["roleArn"] != role_arn:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role_arn)
        log(f"updated state machine {name}")
        return arn, True
    return arn, False


def deploy(
    settings: Settings, target: Target, log: Log = lambda _m: None, adopt: bool = False
) -> DeployResult:
    """Roles, functions and state machine for ``settings`` on ``target``; safe to run again.

    Only resources the harness created (tagged, see :mod:`harness.ownership`) are changed; a
    same-named one of someone else's is an :class:`~harness.ownership.OwnershipError` unless ``adopt``.
    """
    session = target.session()
    iam, lam, sfn = (target.client(s, session=session) for s in ("iam", "lambda", "stepfunctions"))
    account = target.account_id()
    partition = "aws"
    result = DeployResult()

    lambda_doc = policies.lambda_policy(
        region=settings.region,
        account=account,
        bucket=settings.bucket,
        data_prefix=settings.data_prefix,
        endpoint_name=settings.endpoint_name,
        function_names=list(FUNCTIONS),
        partition=partition,
        results_prefix=events.results_key_prefix(settings),
    )
    result.lambda_role_arn, changed = ensure_role(
        iam, LAMBDA_ROLE, policies.trust_policy("lambda.amazonaws.com"), lambda_doc, log, adopt
    )
    if changed:
        result.changes.append(f"role {LAMBDA_ROLE}")

    env = function_environment(settings, target)
    for name in FUNCTIONS:
        arn, changes = ensure_function(lam, name, result.lambda_role_arn, env, log, adopt=adopt)
        result.function_arns[name] = arn
        result.changes += changes

    arns = list(result.function_arns.values())
    result.states_role_arn, changed = ensure_role(
        iam,
        STATES_ROLE,
        policies.trust_policy("states.amazonaws.com"),
        policies.states_policy(arns),
        log,
        adopt,
    )
    if changed:
        result.changes.append(f"role {STATES_ROLE}")

    definition = render_definition(result.function_arns)
    result.state_machine_arn, changed = ensure_state_machine(
        sfn, STATE_MACHINE, definition, result.states_role_arn, log, adopt
    )
    if changed:
        result.changes.append(f"state machine {STATE_MACHINE}")

    client = lambda service: target.client(service, session=session)  # noqa: E731
    result.changes += events.ensure_photo_events(settings, client, result.state_machine_arn, log)
    return result
