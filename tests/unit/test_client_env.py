"""``harness env``: the variables it prints, in each format, and the SageMaker SDK config it writes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from harness.client_env import render, sdk_config, write_sdk_config
from harness.config import load_settings
from harness.embedded.process import free_port
from harness.main import app

TRICKY = {"PLAIN": "http://127.0.0.1:4566", "QUOTED": 'it\'s "a" $HOME \\ `x`', "SPACES": "a b  c"}


def test_sh_output_round_trips_through_a_real_shell() -> None:
    script = render(TRICKY, "sh") + 'printf "%s\\n%s\\n%s" "$PLAIN" "$QUOTED" "$SPACES"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n") == list(TRICKY.values())


def test_fish_dotenv_and_json_formats() -> None:
    fish = render({"A": "it's \\ x"}, "fish")
    assert fish == "set -gx A 'it\\'s \\\\ x';\n"
    dotenv = render({"A": 'say "hi"\\n'}, "dotenv")
    assert dotenv == 'A="say \\"hi\\"\\\\n"\n'
    assert json.loads(render(TRICKY, "json")) == TRICKY
    with pytest.raises(ValueError, match="unknown format"):
        render(TRICKY, "csh")
    with pytest.raises(ValueError, match="not an environment variable name"):
        render({"bad name": "x"}, "sh")


def test_sdk_config_is_valid_in_the_sdks_own_schema(tmp_path: Path) -> None:
    sagemaker_config = pytest.importorskip("sagemaker.config", reason="the SageMaker SDK is a dev dependency")
    role = "arn:aws:iam::000000000000:role/scones-sagemaker-role"
    settings = load_settings().replace(home=tmp_path, bucket="my-bucket")
    path = write_sdk_config(settings, role)
    assert path.is_absolute() and path.parent == tmp_path.resolve()
    # load_sagemaker_config validates against the SDK's JSON schema and raises on any unknown key.
    loaded = sagemaker_config.load_sagemaker_config(additional_config_paths=[str(path)])
    assert loaded == sdk_config("my-bucket", role)
    assert loaded["SageMaker"]["PythonSDK"]["Modules"]["TelemetryOptOut"] is True
    assert loaded["SageMaker"]["PythonSDK"]["Modules"]["Session"]["DefaultS3Bucket"] == "my-bucket"
    assert loaded["SageMaker"]["TrainingJob"]["RoleArn"] == role


def test_env_on_aws_creates_the_role_and_bucket_and_prints_no_endpoint(aws, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--target", "aws", "--home", str(tmp_path), "--bucket", "env-bucket", "env", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    env = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert "AWS_ENDPOINT_URL" not in env and "AWS_ACCESS_KEY_ID" not in env  # the user's own chain
    assert env["AWS_REGION"] == "us-east-1"
    role = boto3.client("iam").get_role(RoleName="scones-sagemaker-role")["Role"]
    assert env["SAGEMAKER_ROLE_ARN"] == role["Arn"]
    assert env["SAGEMAKER_DEFAULT_BUCKET"] == "env-bucket"
    boto3.client("s3", region_name="us-east-1").head_bucket(Bucket="env-bucket")
    assert Path(env["SAGEMAKER_USER_CONFIG_OVERRIDE"]).is_file()


def test_env_on_local_without_a_running_cloud_says_to_start_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_LOCALSTACK_PORT", str(free_port()))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = CliRunner().invoke(app, ["--target", "local", "--home", str(tmp_path), "env"])
    assert result.exit_code == 1
    assert "harness up" in result.output
    assert "export" not in result.output
