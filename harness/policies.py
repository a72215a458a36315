"""IAM documents for the workflow, least privilege, built the same way for every target.

They are pure functions of names and ARNs so the aws target's requests can be
checked against the local target's (tests/unit/test_request_shapes.py): the
only differences allowed are partition, region and account.
"""

from __future__ import annotations

from typing import Any

Document = dict[str, Any]


def trust_policy(service: str) -> Document:
    """A role that only ``service`` (e.g. ``lambda.amazonaws.com``) may assume."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def lambda_policy(
    *,
    region: str,
    account: str,
    bucket: str,
    data_prefix: str,
    endpoint_name: str,
    function_names: list[str],
    partition: str = "aws",
) -> Document:
    """The functions' role: read the staged images, write their own logs, invoke the one endpoint."""
    log_groups = [
        f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{fn}" for fn in function_names
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadStagedImages",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:{partition}:s3:::{bucket}/{data_prefix}*"],
            },
            {
                "Sid": "OwnLogGroups",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup"],
                "Resource": log_groups,
            },
            {
                "Sid": "OwnLogStreams",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{group}:*" for group in log_groups],
            },
            {
                "Sid": "InvokeTheEndpoint",
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint"],
                "Resource": [
                    f"arn:{partition}:sagemaker:{region}:{account}:endpoint/{endpoint_name.lower()}"
                ],
            },
        ],
    }


def states_policy(function_arns: list[str]) -> Document:
    """The state machine's role: invoke exactly the workflow's functions (any version or alias)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeWorkflowFunctions",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [*function_arns, *(f"{arn}:*" for arn in function_arns)],
            }
        ],
    }


def sagemaker_execution_policy(*, bucket: str, region: str, account: str, partition: str = "aws") -> Document:
    """The SageMaker execution role: read/write the bucket, write training/endpoint logs, pull images."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Bucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/*"],
            },
            {
                "Sid": "PullImages",
                "Effect": "Allow",
                "Action": [
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                "Resource": "*",
            },
            {
                "Sid": "Metrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
            },
        ],
    }
