"""Evaluate IAM for every request made with a role's credentials, as AWS does; LocalStack Community does not.

A function's boto3 calls are signed with the credentials of its execution role (LocalStack's Lambda
service gets them with ``sts:AssumeRole``), and Step Functions' task calls with the state machine's
role. AWS answers a call that role does not allow with ``AccessDenied`` (S3) or
``AccessDeniedException``; LocalStack Community serves it. This hook appends a handler to LocalStack's
``serve_custom_service_request_handlers`` (the point right after a request is parsed, before it is
served) that

1. finds the caller's access key (SigV4 header or presigned query) among moto's assumed-role sessions
   (callers with any other key, such as the harness's own ``test`` credentials, are the account's root
   and are not checked, as on AWS);
2. maps the parsed operation to the permissions AWS checks (:mod:`localstack_plugin.iam_actions`);
3. evaluates the role's inline and attached policies (:mod:`localstack_plugin.iam_policy`);
4. refuses with AWS's error code and message, logs only, or does nothing, per
   ``HARNESS_IAM_ENFORCEMENT`` = ``enforce`` (default) | ``log`` | ``off``.

A SageMaker request that reaches LocalStack's gateway is checked like any other; calls sent straight
to the SageMaker emulator's own port are not (docs/parity.md).

LocalStack bug fix: no. IAM enforcement is a LocalStack Pro feature, absent from Community by design;
this adds it. Upstream code it hooks into: ``localstack.aws.handlers.serve_custom_service_request_handlers``.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from localstack.runtime import hooks

from localstack_plugin import iam_actions, iam_policy
from localstack_plugin.patches import Replaces, applied, require_localstack_version

# What this patch hooks into or calls; the contract test checks each still has this signature.
REPLACES = (
    Replaces(
        "localstack.aws.handlers",
        "serve_custom_service_request_handlers",
        "(chain: 'HandlerChain', context: 'RequestContext', response: 'Response')",
    ),
    Replaces(
        "localstack.aws.handlers",
        "serve_custom_service_request_handlers.append",
        "(handler: 'Handler') -> 'None'",
    ),
    Replaces(
        "localstack.aws.api",
        "CommonServiceException",
        "(code: str, message: str, status_code: int = 400, sender_fault: bool = False)",
    ),
    Replaces(
        "moto.sts.models",
        "STSBackend.get_assumed_role_from_access_key",
        "(self, access_key_id: str) -> Optional[moto.sts.models.AssumedRole]",
    ),
    Replaces("moto.iam.models", "IAMBackend.get_role", "(self, role_name: 'str') -> 'Role'"),
)

LOG = logging.getLogger(__name__)
MODE_ENV = "HARNESS_IAM_ENFORCEMENT"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
# HTTP status of AccessDeniedException per service (S3's AccessDenied is always 403).
_STATUS = {"lambda": 403, "s3": 403}
# Temporary (STS) access keys: AWS's ASIA..., and LocalStack's own LSIA... .
_TEMPORARY_KEY_PREFIXES = ("ASIA", "LSIA")
_lock = threading.Lock()
_sessions: dict[str, tuple[str, str]] = {}  # access key -> (role name, assumed-role ARN)


def mode() -> str:
    value = os.environ.get(MODE_ENV, "enforce").strip().lower() or "enforce"
    if value not in ("enforce", "log", "off"):
        raise ValueError(f"{MODE_ENV} must be enforce, log or off, got {value!r}")
    return value


def access_key_of(headers: Any, args: Any) -> str | None:
    match = _CREDENTIAL.search(headers.get("Authorization", "") or "")
    if match:
        return match.group(1)
    credential = args.get("X-Amz-Credential") if args is not None else None
    return credential.split("/")[0] if credential else None


def _session(account: str, access_key: str) -> tuple[str, str] | None:
    """(role name, caller ARN) of an assumed-role access key, from moto's STS backend."""
    with _lock:
        if access_key in _sessions:
            return _sessions[access_key]
    from moto.sts.models import sts_backends

    for acct in dict.fromkeys([account, *sts_backends.keys()]):
        backend = sts_backends[acct]["aws"]
        found = backend.get_assumed_role_from_access_key(access_key)
        if found is not None:
            role_name = found.role_arn.split("/")[-1]
            arn = f"arn:aws:sts::{acct}:assumed-role/{role_name}/{found.session_name}"
            with _lock:
                _sessions[access_key] = (role_name, arn)
            return role_name, arn
    return None


def role_policies(account: str, role_name: str) -> list[str]:
    """The inline and attached (default version) policy documents of a role; none if it is gone."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    try:
        role = backend.get_role(role_name)
    except Exception:  # NoSuchEntity: a deleted or never-created role allows nothing
        return []
    documents = [str(doc) for doc in role.policies.values()]
    for managed in role.managed_policies.values():
        for version in managed.versions:
            if version.is_default:
                documents.append(version.document)
    return documents


def check(context: Any) -> tuple[str, str, str] | None:
    """``None`` when the request may be served, else (code, message, service) of AWS's refusal."""
    service = getattr(getattr(context, "service", None), "service_name", None)
    operation = getattr(getattr(context, "operation", None), "name", None)
    if service not in iam_actions.ENFORCED or not operation:
        return None
    return refusal(
        service,
        operation,
        context.service_request or {},
        context.region,
        context.account_id,
        access_key_of(context.request.headers, context.request.args),
    )


def refusal(
    service: str, operation: str, params: Any, region: str, account: str, access_key: str | None
) -> tuple[str, str, str] | None:
    """:func:`check` for a call already identified: also used by the InvokeEndpoint fast path
    (:mod:`localstack_plugin.patches.invoke_endpoint_fast_path`), which has not parsed the request."""
    if not access_key or not access_key.startswith(_TEMPORARY_KEY_PREFIXES):
        return None
    session = _session(account, access_key)
    if session is None:
        return None
    role_name, caller = session
    needs = iam_actions.required(service, operation, params, region, account)
    policies = role_policies(account, role_name)
    for need in needs:
        resources = [need.resource] if need.resource else ["*"]
        decision = iam_policy.evaluate(policies, need.action, resources, need.context)
        if need.resource is None and decision.result == iam_policy.IMPLICIT:
            # No rule for this operation: grant when any statement allows the action on some resource.
            decision = _any_resource(policies, need.action)
        if decision.allowed:
            continue
        resource = need.resource or "*"
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.result == iam_policy.DENY
            else f"because no identity-based policy allows the {need.action} action"
        )
        shown = f'"{resource}"' if service == "s3" else resource
        message = f"User: {caller} is not authorized to perform: {need.action} on resource: {shown} {why}"
        return ("AccessDenied" if service == "s3" else "AccessDeniedException", message, service)
    return None


def _any_resource(policies: list[str], action: str) -> iam_policy.Decision:
    for document in policies:
        for statement in iam_policy.parse(document):
            if statement.get("Effect") == "Allow" and iam_policy._action_applies(statement, action):
                return iam_policy.Decision(iam_policy.ALLOW, statement.get("Sid"))
    return iam_policy.Decision(iam_policy.IMPLICIT)


@hooks.on_infra_start()
def enforce_iam() -> None:
    require_localstack_version("iam_enforcement")
    if mode() == "off":
        return
    from localstack.aws import handlers
    from localstack.aws.api import CommonServiceException

    def iam_handler(chain: Any, context: Any, response: Any) -> None:
        refusal = check(context)
        if refusal is None:
            return
        code, message, service = refusal
        if mode() == "log":
            LOG.warning("IAM (log only, %s=log): would refuse: %s", MODE_ENV, message)
            return
        raise CommonServiceException(code=code, message=message, status_code=_STATUS.get(service, 400))

    handlers.serve_custom_service_request_handlers.append(iam_handler)
    applied("iam_enforcement")
