"""``harness doctor``: can this target run the workflow, and what will it cost?

On AWS the expensive surprises come late: a training job that waits forever for an
instance type the account has no quota for (new accounts often have 0 for GPUs, and
AWS has been retiring P2), a bucket name someone else owns, a role SageMaker cannot
assume. Each check here asks the account directly, read-only unless told to create the
execution role, and says what to do about a problem. On the local targets it reports the
embedded (or compose) cloud's health instead: nothing there is billable.

Checks take boto3 clients, not settings-derived globals, so the unit tests drive them
with botocore's Stubber and moto.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness import model
from harness.aws_errors import is_access_denied, is_not_found
from harness.config import Settings
from harness.targets import Target, TargetError, target_for

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"
P2_REPLACEMENT = "ml.g4dn.xlarge"

# Prices: AWS list prices, us-east-1, on-demand, USD, as recorded on PRICES_DATE. They are
# assumptions for an estimate, not fetched live; other regions differ (often 10-30% more).
PRICES_DATE = "2025-10"
TRAINING_USD_PER_HOUR = {
    "ml.p2.xlarge": 1.125,
    "ml.g4dn.xlarge": 0.736,
    "ml.p3.2xlarge": 3.825,
    "ml.g5.xlarge": 1.408,
    "ml.m5.xlarge": 0.23,
    "ml.m5.large": 0.115,
    "ml.c5.xlarge": 0.204,
}
HOSTING_USD_PER_HOUR = {
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.t2.medium": 0.056,
    "ml.c5.large": 0.102,
    "ml.g4dn.xlarge": 0.736,
}
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_USD_PER_GB_SECOND = 0.0000166667
STATES_USD_PER_TRANSITION = 0.025 / 1000
S3_USD_PER_PUT = 0.005 / 1000
S3_USD_PER_GET = 0.0004 / 1000

# Durations: the original project's runs (training job ~12 min for 30 epochs including
# instance start-up and image download; endpoint ~5-8 min to come InService).
TRAINING_STARTUP_MIN = 4.0
TRAINING_MIN_PER_EPOCH = 8.0 / 30
ENDPOINT_CREATE_MIN = 8.0
SECONDS_PER_EXECUTION = 3.0  # Step Functions execution, three Lambda calls, on a warm endpoint
LAMBDA_SECONDS_PER_CALL = 0.5
STATE_TRANSITIONS_PER_EXECUTION = 5
STAGED_FILES = 1202  # 1000 + 200 PNGs and two manifests


@dataclass
class Check:
    """One line of the doctor's report; ``hint`` says what to do when it is not ``ok``."""

    name: str
    status: str
    detail: str
    hint: str = ""


@dataclass
class CostLine:
    item: str
    quantity: str
    usd: float


@dataclass
class CostEstimate:
    lines: list[CostLine] = field(default_factory=list)
    per_hour_kept_usd: float = 0.0  # what the endpoint costs per hour while it is left running
    assumptions: list[str] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return round(sum(line.usd for line in self.lines), 4)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_usd": self.total_usd}


# ---------------------------------------------------------------------------------------------------------
# AWS checks


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


def check_role(iam: Any, settings: Settings, account: str, create: bool) -> Check:
    """The execution role SageMaker assumes: the one given, or the harness's own (created on request)."""
    from harness.names import SAGEMAKER_ROLE
    from harness.workflow import sagemaker_role  # workflow imports this module's users

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
                arn = sagemaker_role(settings, target_for(settings))
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
        import json
        import urllib.parse

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


# ---------------------------------------------------------------------------------------------------------
# Cost


def estimate_cost(settings: Settings, executions: int = 200, keep_endpoint: bool = False) -> CostEstimate:
    """What one ``harness run --target aws`` costs at list prices (see PRICES_DATE and the assumptions)."""
    est = CostEstimate()
    train_min = TRAINING_STARTUP_MIN + TRAINING_MIN_PER_EPOCH * settings.epochs
    run_s = executions * SECONDS_PER_EXECUTION / 8  # 8 executions in flight (harness run's default)
    endpoint_min = ENDPOINT_CREATE_MIN + run_s / 60
    train_price = TRAINING_USD_PER_HOUR.get(settings.training_instance_type)
    host_price = HOSTING_USD_PER_HOUR.get(settings.inference_instance_type)
    if train_price is None:
        est.assumptions.append(
            f"no price on file for {settings.training_instance_type} training: counted as 0"
        )
    if host_price is None:
        est.assumptions.append(
            f"no price on file for {settings.inference_instance_type} hosting: counted as 0"
        )
    calls = executions * 3
    est.lines = [
        CostLine(
            f"training {settings.training_instance_type}",
            f"{train_min:.0f} min",
            (train_price or 0) * train_min / 60,
        ),
        CostLine(
            f"endpoint {settings.inference_instance_type}",
            f"{endpoint_min:.0f} min",
            (host_price or 0) * endpoint_min / 60,
        ),
        CostLine(
            "Lambda",
            f"{calls} calls",
            calls * (LAMBDA_USD_PER_REQUEST + LAMBDA_USD_PER_GB_SECOND * 0.25 * LAMBDA_SECONDS_PER_CALL),
        ),
        CostLine(
            "Step Functions",
            f"{executions * STATE_TRANSITIONS_PER_EXECUTION} transitions",
            executions * STATE_TRANSITIONS_PER_EXECUTION * STATES_USD_PER_TRANSITION,
        ),
        CostLine(
            "S3 requests",
            f"{STAGED_FILES + executions} PUT, {STAGED_FILES + executions} GET",
            (STAGED_FILES + executions) * (S3_USD_PER_PUT + S3_USD_PER_GET),
        ),
    ]
    for line in est.lines:
        line.usd = round(line.usd, 4)
    est.per_hour_kept_usd = host_price or 0.0
    est.assumptions[:0] = [
        f"AWS list prices, us-east-1, on-demand, recorded {PRICES_DATE}; other regions differ",
        f"training {TRAINING_STARTUP_MIN:g} min start-up + {TRAINING_MIN_PER_EPOCH * 60:.0f} s per epoch "
        f"({settings.epochs} epochs); endpoint {ENDPOINT_CREATE_MIN:g} min to come InService",
        f"{executions} executions, 8 in flight, {SECONDS_PER_EXECUTION:g} s each; free tiers not deducted",
    ]
    if keep_endpoint:
        est.assumptions.append(f"--keep-endpoint: the endpoint then costs ${est.per_hour_kept_usd:.3f}/h")
    return est


# ---------------------------------------------------------------------------------------------------------
# Putting it together


def aws_checks(settings: Settings, target: Target, create_role: bool = False) -> list[Check]:
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
    checks.append(check_role(target.client("iam", session=session), settings, account, create_role))
    quotas = target.client("service-quotas", session=session)
    checks.append(check_quota(quotas, settings.training_instance_type, "training job"))
    checks.append(check_quota(quotas, settings.inference_instance_type, "endpoint"))
    return checks


def embedded_checks(settings: Settings) -> list[Check]:
    """The embedded cloud (target ``local``): is each service this harness home started up and healthy?"""
    from harness.embedded import stack

    checks: list[Check] = []
    for st in stack.status(settings):
        if st.healthy:
            checks.append(Check(st.name, OK, f"healthy at {st.url} (pid {st.pid})"))
        else:
            state = "running but not healthy" if st.running else "not running"
            checks.append(
                Check(
                    st.name,
                    WARN,
                    f"{state} at {st.url} {st.note}".strip(),
                    "harness up (harness run starts it too)",
                )
            )
    return checks


def compose_checks(
    settings: Settings, target: Target, probe: Callable[[str], bool] | None = None
) -> list[Check]:
    """The compose cloud (target ``localstack``): do both services answer, and can it train?"""
    from harness.embedded.process import is_healthy

    probe = probe or is_healthy
    checks: list[Check] = []
    for name, url, health in (
        ("localstack", target.localstack_url, "/_localstack/health"),
        ("sagemaker-emulator", target.sagemaker_url, "/_emulator/health"),
    ):
        if probe(f"{url}{health}"):
            checks.append(Check(name, OK, f"healthy at {url}"))
        else:
            checks.append(Check(name, FAIL, f"no answer at {url}{health}", "harness compose up"))
    image = settings.training_image if settings.algorithm != "builtin" else None
    if not image:
        checks.append(
            Check(
                "training image",
                FAIL,
                "the built-in image-classification image is AWS-only: compose cannot pull or run it",
                "set algorithm = 'image', training_image = 'scones-training:latest' (built by compose)",
            )
        )
    return checks


def run_checks(settings: Settings, create_role: bool = False) -> list[Check]:
    """The target's own checks (see :meth:`Target.checks`), plus the training image it would use."""
    target = target_for(settings)
    try:
        image = model.image_uri(settings)
        image_check = Check("training image", INFO, image)
    except ValueError as exc:
        image_check = Check("training image", FAIL, str(exc), "choose a listed region or algorithm 'image'")
    checks = target.checks(settings, create_role=create_role)
    if not any(c.name == "training image" for c in checks):
        checks.append(image_check)
    return checks
