"""The account-level resources every phase and ``harness env`` share: the bucket and the SageMaker role.

A module of its own with light imports (no pandas, no Pillow), so ``harness env`` starts quickly.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from harness import policies
from harness.aws_errors import is_not_found
from harness.iam import ensure_role
from harness.names import SAGEMAKER_ROLE
from harness.targets.base import Target


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create ``bucket`` when it does not exist (us-east-1 takes no location constraint)."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)


def sagemaker_role(target: Target) -> str:
    """The execution role SageMaker assumes: the configured one, else one this harness keeps up to date."""
    settings = target.settings
    if settings.execution_role_arn:
        return settings.execution_role_arn
    arn, _ = ensure_role(
        target.client("iam"),
        SAGEMAKER_ROLE,
        policies.trust_policy("sagemaker.amazonaws.com"),
        policies.sagemaker_execution_policy(
            bucket=settings.bucket, region=settings.region, account=target.account_id()
        ),
        log=lambda _m: None,
    )
    return arn
