"""The identity-policy evaluator and the request -> permission mapping of the IAM enforcement."""

from __future__ import annotations

from harness import policies
from localstack_plugin import iam_actions
from localstack_plugin.iam_policy import ALLOW, DENY, IMPLICIT, evaluate

BUCKET = "arn:aws:s3:::scones"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_allow_deny_and_implicit_deny() -> None:
    allow = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})
    deny = _doc({"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*", "Resource": f"{BUCKET}/secret/*"})
    assert evaluate([allow], "s3:GetObject", [f"{BUCKET}/a.png"]).result == ALLOW
    assert evaluate([allow, deny], "s3:GetObject", [f"{BUCKET}/secret/k"]).result == DENY
    assert evaluate([allow, deny], "s3:GetObject", [f"{BUCKET}/secret/k"]).sid == "NoSecrets"
    assert evaluate([allow], "s3:PutObject", [f"{BUCKET}/a.png"]).result == IMPLICIT
    assert evaluate([allow], "s3:GetObject", ["arn:aws:s3:::other/a.png"]).result == IMPLICIT
    assert evaluate([], "s3:GetObject", [f"{BUCKET}/a"]).result == IMPLICIT


def test_actions_are_case_insensitive_resources_are_not_and_wildcards_work() -> None:
    doc = _doc(
        {"Effect": "Allow", "Action": ["S3:get*", "states:Describe?xecution"], "Resource": f"{BUCKET}/Img?/*"}
    )
    assert evaluate([doc], "s3:GetObject", [f"{BUCKET}/Img1/a"]).result == ALLOW
    assert evaluate([doc], "s3:GetObject", [f"{BUCKET}/img1/a"]).result == IMPLICIT
    assert evaluate([doc], "states:DescribeExecution", [f"{BUCKET}/Img2/x"]).result == ALLOW


def test_not_action_and_not_resource() -> None:
    doc = _doc(
        {"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": [f"{BUCKET}", f"{BUCKET}/*"]},
    )
    assert evaluate([doc], "s3:GetObject", [f"{BUCKET}/k"]).result == ALLOW
    assert evaluate([doc], "s3:DeleteObject", [f"{BUCKET}/k"]).result == IMPLICIT
    assert evaluate([doc], "s3:GetObject", ["arn:aws:s3:::elsewhere/k"]).result == DENY


def test_conditions() -> None:
    doc = _doc(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {"StringLike": {"s3:prefix": ["test/*", "train/*"]}},
        },
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    assert evaluate([doc], "s3:ListBucket", [BUCKET], {"s3:prefix": "test/x"}).result == ALLOW
    assert evaluate([doc], "s3:ListBucket", [BUCKET], {"s3:prefix": "models/"}).result == IMPLICIT
    assert (
        evaluate(
            [doc], "s3:ListBucket", [BUCKET], {"s3:prefix": "test/", "aws:SecureTransport": "false"}
        ).result
        == DENY
    )
    # A failed condition in an Allow is not a Deny (moto's evaluator gets this wrong).
    assert evaluate([doc], "s3:ListBucket", [BUCKET], {}).result == IMPLICIT
    if_exists = _doc(
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {
                "StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"},
                "NumericLessThan": {"s3:max-keys": "10"},
            },
        }
    )
    assert evaluate([if_exists], "s3:ListBucket", [BUCKET], {"s3:max-keys": "5"}).result == ALLOW
    assert evaluate([if_exists], "s3:ListBucket", [BUCKET], {"s3:max-keys": "50"}).result == IMPLICIT


def test_requests_map_to_the_permissions_aws_checks() -> None:
    need = iam_actions.required("s3", "HeadObject", {"Bucket": "b", "Key": "k/1.png"}, "us-east-1", "1")
    assert [(n.action, n.resource) for n in need] == [("s3:GetObject", "arn:aws:s3:::b/k/1.png")]
    need = iam_actions.required("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "test/"}, "us-east-1", "1")
    assert [(n.action, n.resource, n.context) for n in need] == [
        ("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "test/"})
    ]
    need = iam_actions.required(
        "s3", "CopyObject", {"Bucket": "b", "Key": "t", "CopySource": "a/s%20k"}, "r", "1"
    )
    assert [(n.action, n.resource) for n in need] == [
        ("s3:GetObject", "arn:aws:s3:::a/s k"),
        ("s3:PutObject", "arn:aws:s3:::b/t"),
    ]
    need = iam_actions.required(
        "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "Scones-IC"}, "eu-west-1", "123"
    )
    assert need[0].action == "sagemaker:InvokeEndpoint"
    assert need[0].resource == "arn:aws:sagemaker:eu-west-1:123:endpoint/scones-ic"
    need = iam_actions.required("stepfunctions", "StartExecution", {"stateMachineArn": "arn:sm"}, "r", "1")
    assert (need[0].action, need[0].resource) == ("states:StartExecution", "arn:sm")
    need = iam_actions.required(
        "lambda", "Invoke", {"FunctionName": "classifier", "Qualifier": "2"}, "us-east-1", "1"
    )
    assert (need[0].action, need[0].resource) == (
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:1:function:classifier:2",
    )
    assert iam_actions.required("logs", "PutLogEvents", {}, "r", "1") == []


def test_the_harness_least_privilege_policies_allow_exactly_the_workflow() -> None:
    region, account = "us-east-1", "000000000000"
    lam = policies.lambda_policy(
        region=region,
        account=account,
        bucket="scones",
        data_prefix="",
        endpoint_name="scones-image-classifier",
        function_names=["classifier"],
    )

    def decide(doc: dict, service: str, operation: str, params: dict) -> str:
        (need,) = iam_actions.required(service, operation, params, region, account)
        return evaluate([doc], need.action, [need.resource], need.context).result

    assert decide(lam, "s3", "GetObject", {"Bucket": "scones", "Key": "test/bicycle_s_000001.png"}) == ALLOW
    assert (
        decide(lam, "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "scones-image-classifier"})
        == ALLOW
    )
    assert decide(lam, "sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "someone-elses"}) == IMPLICIT
    assert decide(lam, "s3", "PutObject", {"Bucket": "scones", "Key": "x"}) == IMPLICIT
    arn = f"arn:aws:lambda:{region}:{account}:function:classifier"
    states = policies.states_policy([arn])
    assert decide(states, "lambda", "Invoke", {"FunctionName": arn}) == ALLOW
    assert decide(states, "lambda", "Invoke", {"FunctionName": f"{arn}:$LATEST"}) == ALLOW
    assert decide(states, "lambda", "Invoke", {"FunctionName": "filter"}) == IMPLICIT
