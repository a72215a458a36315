"""harness doctor: quotas (botocore Stubber with Service Quotas' real response shapes), bucket and role
(moto), credentials (an empty credential chain), the cost estimate, and the local targets' health report."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from harness import cost, doctor
from harness.checks import FAIL, INFO, OK, WARN
from harness.config import Settings
from harness.embedded.process import free_ports
from harness.main import app
from harness.targets import aws as aws_target
from harness.targets.registry import target_for
from localstack_plugin import sandbox

runner = CliRunner()


def _quota(instance_type: str, usage: str, value: float, code: str) -> dict:
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaCode": code,
        "QuotaName": f"{instance_type} for {usage} usage",
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


@pytest.fixture
def quotas():
    client = boto3.client(
        "service-quotas", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


SAGEMAKER = {"ServiceCode": "sagemaker"}


def test_p2_quota_zero_fails_and_suggests_g4dn_with_its_quota(quotas) -> None:
    client, stub = quotas
    page = {
        "Quotas": [
            _quota("ml.p2.xlarge", "training job", 0.0, "L-P2TRAIN"),
            _quota("ml.g4dn.xlarge", "training job", 1.0, "L-3F53BF0F"),
        ]
    }
    stub.add_response("list_service_quotas", page, SAGEMAKER)
    stub.add_response("list_service_quotas", page, SAGEMAKER)
    check = aws_target.check_quota(client, "ml.p2.xlarge", "training job")
    assert check.status == FAIL
    assert "quota is 0" in check.detail
    assert (
        "ml.g4dn.xlarge" in check.hint and "its quota here: 1" in check.hint and "retiring P2" in check.hint
    )


def test_quota_found_in_defaults_and_ok(quotas) -> None:
    client, stub = quotas
    stub.add_response("list_service_quotas", {"Quotas": []}, SAGEMAKER)
    stub.add_response(
        "list_aws_default_service_quotas",
        {"Quotas": [_quota("ml.m5.xlarge", "endpoint", 2.0, "L-M5EP")]},
        SAGEMAKER,
    )
    check = aws_target.check_quota(client, "ml.m5.xlarge", "endpoint")
    assert (check.status, check.detail) == (OK, "ml.m5.xlarge: 2 (quota L-M5EP)")


def test_unknown_instance_type_and_denied_quota_reads_warn(quotas) -> None:
    client, stub = quotas
    stub.add_response("list_service_quotas", {"Quotas": []}, SAGEMAKER)
    stub.add_response("list_aws_default_service_quotas", {"Quotas": []}, SAGEMAKER)
    stub.add_client_error("list_service_quotas", "AccessDeniedException", "not allowed")
    missing = aws_target.check_quota(client, "ml.p9.mega", "training job")
    assert missing.status == WARN and "ml.p9.mega for training job usage" in missing.detail
    denied = aws_target.check_quota(client, "ml.p2.xlarge", "training job")
    assert denied.status == WARN and "servicequotas:ListServiceQuotas" in denied.hint


def test_no_credentials_is_one_failed_check(monkeypatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    checks = doctor.run_checks(target_for(Settings(target="aws")))
    assert [(c.name, c.status) for c in checks] == [("credentials", "fail"), ("training image", "info")]
    assert "needs AWS credentials" in checks[0].detail


def test_aws_checks_against_moto(aws) -> None:
    settings = Settings(target="aws", bucket="doctor-bkt")
    target = target_for(settings)
    s3 = target.client("s3")
    assert aws_target.check_bucket(s3, "doctor-bkt", "us-east-1").status == INFO  # stage creates it
    s3.create_bucket(Bucket="doctor-bkt")
    assert aws_target.check_bucket(s3, "doctor-bkt", "us-east-1").status == OK
    s3.create_bucket(Bucket="far-bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    far = aws_target.check_bucket(s3, "far-bkt", "us-east-1")
    assert far.status == WARN and "--region eu-west-1" in far.hint

    iam = target.client("iam")
    account = target.account_id()
    assert aws_target.check_role(iam, target, account, create=False).status == INFO
    created = aws_target.check_role(iam, target, account, create=True)
    assert created.status == OK and "created arn:aws:iam::" in created.detail
    assert aws_target.check_role(iam, target, account, create=False).status == OK

    lambda_role = iam.create_role(
        RoleName="not-for-sagemaker",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    wrong = aws_target.check_role(
        iam, target_for(settings.replace(execution_role_arn=lambda_role)), account, create=False
    )
    assert wrong.status == FAIL and "lambda.amazonaws.com" in wrong.detail
    gone = aws_target.check_role(
        iam, target_for(settings.replace(execution_role_arn=lambda_role + "x")), account, create=False
    )
    assert gone.status == FAIL


def test_bucket_owned_by_someone_else_fails() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        check = aws_target.check_bucket(s3, "taken", "us-east-1")
    assert check.status == FAIL and "--bucket" in check.hint


def test_cost_estimate_uses_the_documented_prices() -> None:
    est = cost.estimate_cost(Settings(), executions=200)
    lines = {line.item: line for line in est.lines}
    train = lines["training ml.p2.xlarge"]
    assert train.quantity == "12 min"  # 4 min start-up + 30 epochs x 16 s
    assert train.usd == pytest.approx(1.125 * 12 / 60, abs=1e-3)
    assert lines["endpoint ml.m5.xlarge"].usd == pytest.approx(0.23 * (8 + 75 / 60) / 60, abs=1e-3)
    assert 0.2 < est.total_usd < 0.5
    assert any(cost.PRICES_DATE in a for a in est.assumptions)
    cheaper = cost.estimate_cost(Settings(training_instance_type="ml.g4dn.xlarge"))
    assert cheaper.total_usd < est.total_usd
    unknown = cost.estimate_cost(Settings(training_instance_type="ml.x9.huge"))
    assert any("no price on file for ml.x9.huge" in a for a in unknown.assumptions)
    kept = cost.estimate_cost(Settings(), keep_endpoint=True)
    assert kept.per_hour_kept_usd == 0.23 and any("$0.230/h" in a for a in kept.assumptions)


def test_doctor_on_local_targets_reports_the_clouds_health(tmp_path: Path, monkeypatch) -> None:
    ls, sm = free_ports(2)
    monkeypatch.setenv("HARNESS_LOCALSTACK_PORT", str(ls))
    monkeypatch.setenv("HARNESS_SAGEMAKER_PORT", str(sm))
    local = runner.invoke(app, ["--home", str(tmp_path), "doctor", "--json"])
    assert local.exit_code == 0, local.output
    checks = {c["name"]: c for c in json.loads(local.stdout)["checks"]}
    assert checks["localstack"]["status"] == "warn" and f"127.0.0.1:{ls}" in checks["localstack"]["detail"]
    assert checks["sagemaker"]["status"] == "warn"

    compose = runner.invoke(app, ["--target", "localstack", "doctor", "--json"])
    assert compose.exit_code == 1
    checks = {c["name"]: c for c in json.loads(compose.stdout)["checks"]}
    assert checks["localstack"]["status"] == "fail" and "harness compose up" in checks["localstack"]["hint"]
    assert checks["training image"]["status"] == "fail"  # the built-in image cannot run under compose
    assert "3 check(s) failed" in compose.output


def test_doctor_says_which_lambda_isolation_functions_get_and_why(tmp_path: Path, monkeypatch) -> None:
    """Issue 20: `harness doctor` reports the isolation (the executor's own probe) and, for the fallback,
    which guarantees are missing and how to get them."""
    ls, sm = free_ports(2)
    monkeypatch.setenv("HARNESS_LOCALSTACK_PORT", str(ls))
    monkeypatch.setenv("HARNESS_SAGEMAKER_PORT", str(sm))
    default = runner.invoke(app, ["--home", str(tmp_path), "doctor", "--json"])
    isolation = {c["name"]: c for c in json.loads(default.stdout)["checks"]}["lambda isolation"]
    probed = sandbox.isolation_for("namespace")
    assert isolation["status"] == ("ok" if probed.mode == "namespace" else "warn")
    assert isolation["detail"].startswith(probed.mode)
    monkeypatch.setenv("HARNESS_LAMBDA_TMP_ISOLATION", "dir")
    chosen = runner.invoke(app, ["--home", str(tmp_path), "doctor", "--json"])
    isolation = {c["name"]: c for c in json.loads(chosen.stdout)["checks"]}["lambda isolation"]
    assert isolation["status"] == "warn" and "lambda_tmp_isolation = 'dir'" in isolation["detail"]
    assert "a private /tmp" in isolation["detail"] and "HARNESS_LAMBDA_TMP_ISOLATION" in isolation["hint"]
