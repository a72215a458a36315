"""Deploy small zip functions to a running cloud: what the `deploy_function` fixture and the e2e tests use.

IAM is enforced (as on AWS), so a function's role must exist and allow what it calls: the default
role ``e2e-lambda-role`` is created on first use with S3, Step Functions, Lambda and SageMaker
invoke permissions on every resource; tests of IAM itself make roles of their own (:func:`ensure_role`).
"""

from __future__ import annotations

import io
import json
import textwrap
import uuid
import zipfile
from typing import Any

import boto3
from botocore.exceptions import ClientError

from harness.aws_errors import is_not_found

ROLE_NAME = "e2e-lambda-role"
ROLE_ARN = f"arn:aws:iam::000000000000:role/{ROLE_NAME}"
BROAD_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:*", "states:*", "lambda:InvokeFunction", "sagemaker:InvokeEndpoint"],
            "Resource": "*",
        }
    ],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def iam_for(lam: Any) -> Any:
    """An IAM client for the same endpoint and credentials as ``lam``."""
    creds = lam._request_signer._credentials
    return boto3.client(
        "iam",
        endpoint_url=lam.meta.endpoint_url,
        region_name=lam.meta.region_name,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
    )


def ensure_role(iam: Any, name: str, policy: dict[str, Any]) -> str:
    """Create (or update the inline policy of) a Lambda execution role; returns its ARN."""
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return arn


FUNCTION_ROLE = "scones-pytest-function-role"


def function_role(iam: Any) -> str:
    """The role the ``deploy_function`` fixture's functions run as (any target, the account's own ARN).

    IAM is enforced on the embedded cloud, as on AWS, so it allows what test functions usually call
    (the broad policy above) plus writing their logs.
    """
    from harness import policies
    from harness.iam import ensure_role as ensure_workflow_role

    policy = json.loads(json.dumps(BROAD_POLICY))
    policy["Statement"].append(
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    )
    trust = policies.trust_policy("lambda.amazonaws.com")
    arn, _ = ensure_workflow_role(iam, FUNCTION_ROLE, trust, policy, lambda _m: None)
    return arn


def zip_source(source: str, module: str = "app") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        # 0644: AWS needs code readable by all (its sandbox user is not the owner; AWS knowledge
        # center, "lambda-deployment-package-errors"); writestr's default 0600 is "[Errno 13]
        # Permission denied" there.
        info = zipfile.ZipInfo(f"{module}.py", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, textwrap.dedent(source))
    return buf.getvalue()


def deploy(
    lam: Any,
    source: str,
    *,
    prefix: str = "fn",
    timeout: int = 5,
    env: dict[str, str] | None = None,
    role_arn: str = ROLE_ARN,
    runtime: str = "python3.11",
    module: str = "app",
    memory: int = 128,
    wait: bool = True,
) -> str:
    """Create a zip function from ``source`` (handler ``<module>.handler``) and wait until Active."""
    if role_arn == ROLE_ARN:
        ensure_role(iam_for(lam), ROLE_NAME, BROAD_POLICY)
    from harness.iam import retry_role_propagation

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    retry_role_propagation(
        lambda: lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role_arn,
            Handler=f"{module}.{'lambda_handler' if module == 'lambda_function' else 'handler'}",
            Code={"ZipFile": zip_source(source, module)},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": env or {}},
        )
    )
    if not wait:
        return name
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 600}
    )
    return name
