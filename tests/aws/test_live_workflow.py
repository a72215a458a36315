"""The real workflow on a real AWS account: doctor, then `harness run`, then teardown in ``finally``.

Costs money (about $0.30 with the defaults: see `harness doctor --target aws`). Knobs, as for the
CLI: HARNESS_BUCKET (default scones-harness-<account>-<region>), HARNESS_TRAINING_INSTANCE_TYPE
(ml.p2.xlarge; ml.g4dn.xlarge where P2 is retired), HARNESS_ALGORITHM / HARNESS_TRAINING_IMAGE
(builtin by default), HARNESS_AWS_TEST_EXECUTIONS (10), HARNESS_AWS_TEST_DATASET (default: the
project's mini dataset when present, else the official CIFAR-100 download).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import doctor, teardown
from harness.aws_errors import is_not_found
from harness.checks import FAIL, INFO, OK, WARN
from harness.config import Settings
from harness.targets import aws as aws_target
from harness.targets.registry import target_for
from harness.workflow import RunOptions, run

pytestmark = pytest.mark.aws
MINI = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar-100-mini.tar.gz"


def _with_bucket(settings: Settings) -> Settings:
    if os.environ.get("HARNESS_BUCKET"):
        return settings
    account = target_for(settings).account_id()
    return settings.replace(bucket=f"scones-harness-{account}-{settings.region}")


def test_doctor_reads_the_account(aws_settings: Settings) -> None:
    settings = _with_bucket(aws_settings)
    target = target_for(settings)
    checks = {c.name: c for c in doctor.run_checks(target)}
    assert checks["credentials"].status == OK, checks["credentials"].detail
    # Each status must agree with what the account says when asked directly (not just be one of many).
    try:
        target.client("s3").head_bucket(Bucket=settings.bucket)
        bucket_status = OK
    except ClientError as exc:
        bucket_status = INFO if is_not_found(exc) else FAIL
    assert checks["bucket"].status == bucket_status, checks["bucket"]
    quota = aws_target.find_quota(
        target.client("service-quotas"), settings.training_instance_type, "training job"
    )
    expected = WARN if quota is None else OK if quota["Value"] >= 1 else FAIL
    assert checks["quota: training job"].status == expected, (checks["quota: training job"], quota)


@pytest.mark.timeout(3600)
def test_the_whole_workflow_on_aws_and_teardown(aws_settings: Settings) -> None:
    settings = _with_bucket(aws_settings)
    target = target_for(settings)
    quota = doctor.run_checks(target)
    blocked = [c for c in quota if c.status == FAIL]
    if blocked:
        pytest.skip("account not ready: " + "; ".join(f"{c.name}: {c.detail} ({c.hint})" for c in blocked))
    target = target_for(settings)
    dataset = os.environ.get("HARNESS_AWS_TEST_DATASET") or (str(MINI) if MINI.is_file() else None)
    executions = int(os.environ.get("HARNESS_AWS_TEST_EXECUTIONS", "10"))
    try:
        result = run(
            target,
            RunOptions(
                dataset=dataset,
                executions=executions,
                report_dir=settings.home / "report",
                keep_endpoint=False,
                billable_ok=True,
            ),
            log=print,
        )
        summary = result.summary
        assert summary["executions"] == executions
        unexpected = {
            e: n for e, n in summary.get("failed_by_error", {}).items() if e != "ThresholdConfidenceNotMet"
        }
        assert unexpected == {}, unexpected
        assert summary.get("capture_records", 0) >= 1
        assert "teardown" in result.phases_s
        remaining = target.client("sagemaker").list_endpoints(NameContains=settings.endpoint_name)[
            "Endpoints"
        ]
        assert all(e["EndpointStatus"] == "Deleting" for e in remaining), remaining
    finally:
        teardown.teardown(target, delete_data=True, log=print)
