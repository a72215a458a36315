"""Target ``aws``: real AWS through the profile/region chain; refuses to start without credentials; bills.

Its health checks (``harness doctor --target aws``) ask the account directly, read-only unless told to
create the execution role: whose credentials, whether the bucket is free or ours and in the run's region,
whether SageMaker can assume the role, and whether the instance types have quota (new accounts often
have 0 for GPUs, and AWS has been retiring P2). Each says what to do about a problem. The checks take
boto3 clients, so the unit tests drive them with botocore's Stubber and moto.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from harness.account import sagemaker_role
from harness.aws_errors import is_access_denied, is_not_found
from harness.checks import FAIL, INFO, OK, WARN, Check
from harness.config import Settings
from harness.names import SAGEMAKER_ROLE
from harness.targets.base import Capabilities, Log, Target, TargetError
from harness.teardown import teardown

if TYPE_CHECKING:
    from rich.console import Console

P2_REPLACEMENT = "ml.g4dn.xlarge"


class AwsTarget(Target):
    """Real AWS: AWS's own endpoints, the user's credential chain."""

    name: ClassVar[str] = "aws"
    capabilities: ClassVar[Capabilities] = Capabilities(emulated=False, bills=True)
    keeps_endpoint: ClassVar[bool] = False  # an InService endpoint bills by the hour
    unreachable_hint: ClassVar[str] = "check the network and the region"

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        return cls(settings=settings)

    def endpoint_url(self, service: str) -> str | None:
        return None

    def session(self) -> boto3.Session:
        session = boto3.Session(profile_name=self.profile, region_name=self.region)
        if session.get_credentials() is None:
            raise TargetError(
                "target 'aws' needs AWS credentials: none were found "
                f"(profile {self.profile or 'default'!r}, region {self.region}). "
                "Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run 'aws configure'."
            )
        return session

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    def process_env(self) -> dict[str, str]:
        return {}

    def function_env(self) -> dict[str, str]:
        return {}

    def client_env(self) -> dict[str, str]:
        """Only the region (and profile): credentials stay in the user's own chain."""
        profile = {"AWS_PROFILE": self.profile} if self.profile else {}
        return {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, **profile}

    def bring_up(self, console: Console | None = None) -> None:
        self.session()  # nothing to start; fail early, with the reason, when there are no credentials

    def checks(self, create_role: bool = False) -> list[Check]:
        return aws_checks(self, create_role)

    def tear_down(self, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False) -> None:
        self._no_reset(reset)
        teardown(self, delete_data, log=log)


def check_credentials(session: Any, sts: Any, profile: str | None) -> Check:
    """Whose credentials, found where, for which region; fails when STS rejects them."""
    creds = session.get_credentials()
    where = f"profile {profile or 'default'}, region {session.region_name}"
    if creds is None:
        return Check(
            "credentials",
            FAIL,
            f"boto3 found no credentials ({where})",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run 'aws configure'",
        )
    try:
        who = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        return Check(
            "credentials", FAIL, f"credentials from {creds.method} were rejected: {exc}", "refresh them"
        )
    return Check(
        "credentials", OK, f"account {who['Account']} as {who['Arn']} (from {creds.method}; {where})"
    )


def check_bucket(s3: Any, bucket: str, region: str) -> Check:
    """Exists and is ours (and in the run's region), or is free to be created by ``harness stage``."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if is_not_found(exc):
            return Check(
                "bucket", INFO, f"s3://{bucket} does not exist yet; harness stage/run creates it in {region}"
            )
        if is_access_denied(exc):
            return Check(
                "bucket",
                FAIL,
                f"s3://{bucket} exists but this account cannot use it (bucket names are global)",
                "choose another name: --bucket or HARNESS_BUCKET",
            )
        raise
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    location = "eu-west-1" if location == "EU" else location
    if location != region:
        return Check(
            "bucket",
            WARN,
            f"s3://{bucket} is in {location}, the run uses {region}",
            "SageMaker reads training data from its own region: use --region " + location,
        )
    return Check("bucket", OK, f"s3://{bucket} exists in {region}")


def check_role(iam: Any, target: Target, account: str, create: bool) -> Check:
    """The execution role SageMaker assumes: the one given, or the harness's own (created on request)."""
    settings = target.settings
    name = settings.execution_role_arn.rsplit("/", 1)[-1] if settings.execution_role_arn else SAGEMAKER_ROLE
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if is_not_found(exc):
            if settings.execution_role_arn:
                return Check(
                    "execution role",
                    FAIL,
                    f"{settings.execution_role_arn} does not exist",
                    "fix execution_role_arn",
                )
            if create:
                arn = sagemaker_role(target)
                return Check(
                    "execution role", OK, f"created {arn} (least privilege: the bucket, logs, image pulls)"
                )
            return Check(
                "execution role",
                INFO,
                f"role {name} does not exist yet: harness run creates it",
                "or create it now with 'harness doctor --create-role', or set execution_role_arn",
            )
        if is_access_denied(exc):
            return Check(
                "execution role",
                WARN,
                f"cannot read IAM role {name}: {exc}",
                "set execution_role_arn to a role with the SageMaker trust policy",
            )
        raise
    trust = role.get("AssumeRolePolicyDocument") or {}
    if isinstance(trust, str):
        trust = json.loads(urllib.parse.unquote(trust))
    services = {
        svc
        for st in trust.get("Statement", [])
        for svc in _as_list(st.get("Principal", {}).get("Service", []))
    }
    if "sagemaker.amazonaws.com" not in services:
        return Check(
            "execution role",
            FAIL,
            f"{role['Arn']} cannot be assumed by SageMaker (trusts: {', '.join(sorted(services)) or 'none'})",
            "add sagemaker.amazonaws.com to its trust policy",
        )
    return Check("execution role", OK, f"{role['Arn']} (account {account})")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def quota_name(instance_type: str, usage: str) -> str:
    """Service Quotas' name for an instance type's quota, e.g. 'ml.p2.xlarge for training job usage'."""
    return f"{instance_type} for {usage} usage"


def find_quota(quotas: Any, instance_type: str, usage: str) -> dict[str, Any] | None:
    """The applied quota (or AWS's default when none is applied) named for ``instance_type``."""
    wanted = quota_name(instance_type, usage)
    for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
        for page in quotas.get_paginator(operation).paginate(ServiceCode="sagemaker"):
            for quota in page.get("Quotas", []):
                if quota.get("QuotaName") == wanted:
                    return quota
    return None


def check_quota(quotas: Any, instance_type: str, usage: str) -> Check:
    """Quota 0 means the job or endpoint would fail with ResourceLimitExceeded: say so before paying."""
    name = f"quota: {usage}"
    try:
        quota = find_quota(quotas, instance_type, usage)
    except ClientError as exc:
        return Check(
            name, WARN, f"cannot read Service Quotas: {exc}", "needs servicequotas:ListServiceQuotas"
        )
    if quota is None:
        return Check(
            name,
            WARN,
            f"no quota named '{quota_name(instance_type, usage)}' in this region",
            "the instance type may not be offered here: check the region or choose another type",
        )
    value = quota.get("Value", 0)
    code = quota.get("QuotaCode", "?")
    if value >= 1:
        return Check(name, OK, f"{instance_type}: {value:g} (quota {code})")
    hint = f"request an increase of quota {code} in the Service Quotas console"
    if instance_type.startswith("ml.p2.") and usage == "training job":
        replacement = find_quota(quotas, P2_REPLACEMENT, usage)
        have = f" (its quota here: {replacement['Value']:g})" if replacement else ""
        hint = (
            f"AWS has been retiring P2 instances: use --training-instance-type {P2_REPLACEMENT}{have}, "
            f"or {hint}"
        )
    return Check(name, FAIL, f"{instance_type}: quota is 0, so {usage}s of this type cannot start", hint)


def aws_checks(target: Target, create_role: bool = False) -> list[Check]:
    """Credentials, the bucket, SageMaker's execution role, the instance types' quotas."""
    settings = target.settings
    try:
        session = target.session()
    except TargetError as exc:
        return [Check("credentials", FAIL, str(exc))]
    sts = target.client("sts", session=session)
    checks = [check_credentials(session, sts, settings.profile)]
    if checks[0].status == FAIL:
        return checks
    account = sts.get_caller_identity()["Account"]
    checks.append(check_bucket(target.client("s3", session=session), settings.bucket, settings.region))
    checks.append(check_role(target.client("iam", session=session), target, account, create_role))
    quotas = target.client("service-quotas", session=session)
    checks.append(check_quota(quotas, settings.training_instance_type, "training job"))
    checks.append(check_quota(quotas, settings.inference_instance_type, "endpoint"))
    return checks
