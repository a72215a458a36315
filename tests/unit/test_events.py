"""The event path's requests: bucket notifications, the rule's pattern, the target's input transformer."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from harness import events
from harness.config import Settings, SettingsError

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:scones-image-classification"
ROLE = "arn:aws:iam::123456789012:role/scones-events-role"


def _client(service: str) -> object:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_pattern_matches_prefix_and_suffix_under_the_data_prefix() -> None:
    settings = Settings(
        bucket="bkt", data_prefix="data", incoming_prefix="/drop/", photo_suffixes=".png, .jpg"
    )
    pattern = events.photo_event_pattern(settings)
    assert pattern == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": ["bkt"]},
            "object": {"key": [{"wildcard": "data/drop/*.png"}, {"wildcard": "data/drop/*.jpg"}]},
        },
    }
    assert events.results_key_prefix(settings) == "data/results/"


@pytest.mark.parametrize(
    "changes",
    [{"incoming_prefix": "in*coming"}, {"results_prefix": "incoming/results"}, {"photo_suffixes": " , "}],
)
def test_bad_prefixes_are_refused(changes: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings(**changes)


def test_target_transforms_the_event_into_the_workflow_input() -> None:
    target = events.photo_target(ARN, ROLE)
    assert target["Arn"] == ARN and target["RoleArn"] == ROLE
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"}
    # What EventBridge renders for a string value: the value as a JSON string in place of <name>.
    rendered = transformer["InputTemplate"].replace("<bucket>", '"bkt"').replace("<key>", '"incoming/a.png"')
    assert json.loads(rendered) == {"s3_bucket": "bkt", "s3_key": "incoming/a.png"}


def test_bucket_notifications_keep_other_configurations() -> None:
    s3 = _client("s3")
    queue = {
        "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:1:q", "Events": ["s3:ObjectCreated:*"]}]
    }
    with Stubber(s3) as stub:
        stub.add_response("get_bucket_notification_configuration", dict(queue), {"Bucket": "bkt"})
        stub.add_response(
            "put_bucket_notification_configuration",
            {},
            {"Bucket": "bkt", "NotificationConfiguration": {**queue, "EventBridgeConfiguration": {}}},
        )
        assert events.ensure_bucket_to_eventbridge(s3, "bkt") is True
        stub.add_response(
            "get_bucket_notification_configuration",
            {**queue, "EventBridgeConfiguration": {}},
            {"Bucket": "bkt"},
        )
        assert events.ensure_bucket_to_eventbridge(s3, "bkt") is False  # nothing sent the second time
        stub.assert_no_pending_responses()


def test_missing_bucket_says_to_stage_first() -> None:
    s3 = _client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("get_bucket_notification_configuration", "NoSuchBucket", http_status_code=404)
        with pytest.raises(RuntimeError, match="harness stage"):
            events.ensure_bucket_to_eventbridge(s3, "bkt")


def test_rule_and_target_requests_on_aws() -> None:
    settings = Settings(target="aws", bucket="bkt")
    ev = _client("events")
    pattern = events.photo_event_pattern(settings)
    target = events.photo_target(ARN, ROLE)
    with Stubber(ev) as stub:
        stub.add_client_error(
            "describe_rule", "ResourceNotFoundException", expected_params={"Name": events.PHOTO_RULE}
        )
        stub.add_response(
            "put_rule",
            {"RuleArn": "arn"},
            {
                "Name": events.PHOTO_RULE,
                "EventPattern": json.dumps(pattern),
                "State": "ENABLED",
                "Description": ANY,
            },
        )
        stub.add_response("list_targets_by_rule", {}, {"Rule": events.PHOTO_RULE})
        stub.add_response(
            "put_targets", {"FailedEntryCount": 0}, {"Rule": events.PHOTO_RULE, "Targets": [target]}
        )
        assert events.ensure_rule(ev, events.PHOTO_RULE, pattern, "d") is True
        assert events.ensure_target(ev, events.PHOTO_RULE, target) is True
        # Up to date: only reads.
        stub.add_response("describe_rule", {"EventPattern": json.dumps(pattern), "State": "ENABLED"})
        stub.add_response("list_targets_by_rule", {"Targets": [target]})
        assert events.ensure_rule(ev, events.PHOTO_RULE, pattern, "d") is False
        assert events.ensure_target(ev, events.PHOTO_RULE, target) is False
        stub.assert_no_pending_responses()


def test_failed_target_entries_are_an_error() -> None:
    ev = _client("events")
    target = events.photo_target(ARN, ROLE)
    with Stubber(ev) as stub:
        stub.add_response("list_targets_by_rule", {})
        stub.add_response(
            "put_targets",
            {"FailedEntryCount": 1, "FailedEntries": [{"TargetId": "classify-photo", "ErrorCode": "x"}]},
        )
        with pytest.raises(RuntimeError, match="PutTargets"):
            events.ensure_target(ev, events.PHOTO_RULE, target)
