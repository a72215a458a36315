"""Which IAM action and resource ARN a parsed AWS request needs, for the services IAM is enforced on.

AWS authorises each request as one or more (action, resource) pairs: ``s3:GetObject`` on
``arn:aws:s3:::bucket/key`` for GetObject *and* HeadObject, ``s3:ListBucket`` on the bucket for
ListObjectsV2, both ``s3:GetObject`` on the source and ``s3:PutObject`` on the target for CopyObject,
``sagemaker:InvokeEndpoint`` on ``endpoint/<lower-cased name>``, ``states:StartExecution`` on the state
machine, ``lambda:InvokeFunction`` on the (qualified) function. :func:`required` returns those pairs;
an operation it has no rule for needs ``<prefix>:<Operation>`` on ``None`` (any resource), which the
enforcer grants when some statement allows the action at all (the lenient side, listed in
docs/parity.md), so an unmapped call is never refused where AWS would serve it.

Standard library only: unit-tested without LocalStack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# LocalStack/botocore service name -> IAM action prefix.
ENFORCED = {
    "s3": "s3",
    "sagemaker": "sagemaker",
    "sagemaker-runtime": "sagemaker",
    "stepfunctions": "states",
    "lambda": "lambda",
}

# botocore operation -> (IAM action, "bucket" | "object" | "none")
_S3 = {
    "GetObject": ("GetObject", "object"),
    "HeadObject": ("GetObject", "object"),
    "GetObjectAttributes": ("GetObjectAttributes", "object"),
    "GetObjectTagging": ("GetObjectTagging", "object"),
    "PutObject": ("PutObject", "object"),
    "CreateMultipartUpload": ("PutObject", "object"),
    "UploadPart": ("PutObject", "object"),
    "CompleteMultipartUpload": ("PutObject", "object"),
    "AbortMultipartUpload": ("AbortMultipartUpload", "object"),
    "PutObjectTagging": ("PutObjectTagging", "object"),
    "DeleteObject": ("DeleteObject", "object"),
    "ListObjects": ("ListBucket", "bucket"),
    "ListObjectsV2": ("ListBucket", "bucket"),
    "ListObjectVersions": ("ListBucketVersions", "bucket"),
    "ListMultipartUploads": ("ListBucketMultipartUploads", "bucket"),
    "HeadBucket": ("ListBucket", "bucket"),
    "GetBucketLocation": ("GetBucketLocation", "bucket"),
    "CreateBucket": ("CreateBucket", "bucket"),
    "DeleteBucket": ("DeleteBucket", "bucket"),
    "ListBuckets": ("ListAllMyBuckets", "none"),
}

# SageMaker request parameter -> resource type in the ARN (names are lower-cased in ARNs).
_SAGEMAKER_NAMES = (
    ("EndpointName", "endpoint"),
    ("EndpointConfigName", "endpoint-config"),
    ("ModelName", "model"),
    ("TrainingJobName", "training-job"),
    ("TransformJobName", "transform-job"),
    ("ProcessingJobName", "processing-job"),
    ("NotebookInstanceName", "notebook-instance"),
)
_SAGEMAKER_RUNTIME = {
    "InvokeEndpoint": "InvokeEndpoint",
    "InvokeEndpointWithResponseStream": "InvokeEndpoint",
    "InvokeEndpointAsync": "InvokeEndpointAsync",
}
_LAMBDA_ACTIONS = {
    "Invoke": "InvokeFunction",
    "InvokeAsync": "InvokeFunction",
    "InvokeWithResponseStream": "InvokeFunction",
}


@dataclass(frozen=True)
class Need:
    """One permission a request needs; ``resource`` ``None`` = the operation has no rule here."""

    action: str
    resource: str | None
    context: Mapping[str, Any] | None = None


def required(
    service: str, operation: str, params: Mapping[str, Any], region: str, account: str, partition: str = "aws"
) -> list[Need]:
    """The permissions AWS checks for ``operation`` with ``params``; ``[]`` for an unenforced service."""
    prefix = ENFORCED.get(service)
    if prefix is None:
        return []
    if service == "s3":
        return _s3(operation, params, partition)
    if service == "sagemaker-runtime":
        action = _SAGEMAKER_RUNTIME.get(operation, operation)
        name = str(params.get("EndpointName", "")).lower()
        return [Need(f"sagemaker:{action}", f"arn:{partition}:sagemaker:{region}:{account}:endpoint/{name}")]
    if service == "sagemaker":
        return [
            Need(f"sagemaker:{operation}", _sagemaker_resource(operation, params, region, account, partition))
        ]
    if service == "stepfunctions":
        arn = params.get("stateMachineArn") or params.get("executionArn") or params.get("mapRunArn")
        if operation.startswith("List") and not arn:
            return [Need(f"states:{operation}", "*")]
        if operation == "CreateStateMachine":
            name = params.get("name", "")
            return [
                Need(
                    "states:CreateStateMachine",
                    f"arn:{partition}:states:{region}:{account}:stateMachine:{name}",
                )
            ]
        return [Need(f"states:{operation}", str(arn) if arn else None)]
    if service == "lambda":
        action = _LAMBDA_ACTIONS.get(operation, operation)
        name = params.get("FunctionName")
        if not name:
            return [Need(f"lambda:{action}", "*" if operation.startswith("List") else None)]
        return [
            Need(
                f"lambda:{action}",
                function_arn(str(name), params.get("Qualifier"), region, account, partition),
            )
        ]
    return [Need(f"{prefix}:{operation}", None)]


def _s3(operation: str, params: Mapping[str, Any], partition: str) -> list[Need]:
    bucket = params.get("Bucket", "")
    if operation == "CopyObject" or operation == "UploadPartCopy":
        source = params.get("CopySource", "")
        if isinstance(source, Mapping):
            source = f"{source.get('Bucket', '')}/{source.get('Key', '')}"
        source = unquote(str(source)).lstrip("/").split("?versionId=")[0]
        return [
            Need("s3:GetObject", f"arn:{partition}:s3:::{source}"),
            Need("s3:PutObject", f"arn:{partition}:s3:::{bucket}/{params.get('Key', '')}"),
        ]
    if operation == "DeleteObjects":
        objects = (params.get("Delete") or {}).get("Objects") or []
        return [Need("s3:DeleteObject", f"arn:{partition}:s3:::{bucket}/{o.get('Key', '')}") for o in objects]
    rule = _S3.get(operation)
    if rule is None:
        return [Need(f"s3:{operation}", None)]
    action, kind = rule
    if kind == "none":
        return [Need(f"s3:{action}", "*")]
    if kind == "bucket":
        context = {"s3:prefix": params.get("Prefix", "")} if "List" in action else None
        return [Need(f"s3:{action}", f"arn:{partition}:s3:::{bucket}", context)]
    return [Need(f"s3:{action}", f"arn:{partition}:s3:::{bucket}/{params.get('Key', '')}")]


def _sagemaker_resource(
    operation: str, params: Mapping[str, Any], region: str, account: str, partition: str
) -> str | None:
    if operation.startswith("List"):
        return "*"
    for param, kind in _SAGEMAKER_NAMES:
        if params.get(param):
            return f"arn:{partition}:sagemaker:{region}:{account}:{kind}/{str(params[param]).lower()}"
    return None


def function_arn(name: str, qualifier: Any, region: str, account: str, partition: str = "aws") -> str:
    """A function name, partial ARN or ARN (maybe qualified) -> the ARN IAM checks."""
    if name.startswith("arn:"):
        arn = name
    elif ":" in name:  # "123456789012:function:name" or "name:qualifier"
        parts = name.split(":")
        arn = (
            f"arn:{partition}:lambda:{region}:{name}"
            if parts[0].isdigit() and len(parts) >= 3
            else f"arn:{partition}:lambda:{region}:{account}:function:{name}"
        )
    else:
        arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    if qualifier and arn.count(":") == 6:
        arn += f":{qualifier}"
    return arn
