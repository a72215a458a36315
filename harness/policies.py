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
    results_prefix: str | None = None,
) -> Document:
    """The functions' role: read the staged images, write their own logs, invoke the one endpoint,
    and (with ``results_prefix``, a full key prefix) write the photos' results there and nowhere else."""
    log_groups = [
        f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{fn}" for fn in function_names
    ]
    statements: list[Document] = [
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
            "Resource": [f"arn:{partition}:sagemaker:{region}:{account}:endpoint/{endpoint_name.lower()}"],
        },
    ]
    if results_prefix is not None:
        results = f"arn:{partition}:s3:::{bucket}/{results_prefix}*"
        statements.append(
            # writeResult reads the photo's ETag (HeadObject needs s3:GetObject) and its previous result.
            {
                "Sid": "WriteResults",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [results],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


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


def events_policy(state_machine_arn: str) -> Document:
    """EventBridge's role for the photo rule's target: start executions of one state machine."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartClassification",
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": [state_machine_arn],
            }
        ],
    }


def pipeline_states_policy(
    *, region: str, account: str, sagemaker_role_arn: str, partition: str = "aws"
) -> Document:
    """The pipeline state machine's role, as AWS documents it for the optimized SageMaker integrations.

    ``createTrainingJob.sync`` needs Describe/Stop on the job and the managed EventBridge rule Step
    Functions uses to learn when the job ends; creating models passes the SageMaker execution role.
    """
    sm = f"arn:{partition}:sagemaker:{region}:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrainingJobs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                ],
                "Resource": [f"{sm}:training-job/*"],
            },
            {
                "Sid": "Hosting",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                ],
                "Resource": [f"{sm}:model/*", f"{sm}:endpoint-config/*", f"{sm}:endpoint/*"],
            },
            {"Sid": "ListTags", "Effect": "Allow", "Action": ["sagemaker:ListTags"], "Resource": "*"},
            {
                "Sid": "SyncRule",
                "Effect": "Allow",
                "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                "Resource": [
                    f"arn:{partition}:events:{region}:{account}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"
                ],
            },
            {
                "Sid": "PassExecutionRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [sagemaker_role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
        ],
    }
