"""Settings layering and the target module: the only place that knows endpoints and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Settings, SettingsError, load_settings
from harness.cost import estimate_cost
from harness.targets.base import TargetError
from harness.targets.registry import target_for
from tests.support.lambdas import load_function


def test_layers_defaults_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "harness.toml"
    cfg.write_text('[harness]\nbucket = "from-file"\nthreshold = 0.8\nepochs = 3\nregion = "eu-west-1"\n')
    env = {"HARNESS_THRESHOLD": "0.85", "HARNESS_EPOCHS": "4"}
    s = load_settings(config_file=cfg, environ=env, epochs=5)
    assert (s.bucket, s.threshold, s.epochs, s.region) == ("from-file", 0.85, 5, "eu-west-1")
    assert load_settings(environ={}, config_file=cfg).threshold == 0.8
    # The defaults agree with what they configure: the filter's own default threshold, and instance
    # types the cost model has prices for (an estimate of a default run assumes no unknown price).
    filter_fn = load_function("filter")
    assert Settings().threshold == filter_fn.DEFAULT_THRESHOLD
    assert not [a for a in estimate_cost(Settings()).assumptions if "no price on file" in a]


def test_config_file_from_env_and_top_level_table(tmp_path: Path) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text('bucket = "top-level"\n')
    assert load_settings(environ={"HARNESS_CONFIG": str(cfg)}).bucket == "top-level"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"environ": {"HARNESS_THRESHOLD": "high"}}, "threshold from HARNESS_THRESHOLD: cannot read 'high'"),
        ({"environ": {}, "threshold": 1.5}, "threshold must be between 0 and 1"),
        (
            {"environ": {"HARNESS_LAMBDA_MAX_ENVIRONMENTS": "-1"}},
            r"lambda_max_environments must be 0 \(no cap\) or more, got -1",
        ),
        ({"environ": {}, "config_file": Path("/nonexistent/harness.toml")}, "does not exist"),
    ],
)
def test_bad_settings_name_the_setting(kwargs, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**kwargs)


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_threshold_bounds_are_inclusive(threshold: float) -> None:
    # The filter accepts 0 and 1 (lambdas/filter): so must the settings that deploy it.
    assert Settings(threshold=threshold).threshold == threshold
    with pytest.raises(SettingsError, match="threshold must be between 0 and 1"):
        Settings(threshold=threshold + (0.001 if threshold else -0.001))


def test_unknown_key_and_bad_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "harness.toml"
    cfg.write_text("bukcet = 'typo'\n")
    with pytest.raises(SettingsError, match="unknown setting 'bukcet'"):
        load_settings(config_file=cfg, environ={})
    cfg.write_text("bucket = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config_file=cfg, environ={})


def test_prefixes_are_normalised() -> None:
    s = Settings(data_prefix="scones", capture_prefix="/data_capture/")
    assert s.data_key("train.lst") == "scones/train.lst"
    assert s.capture_uri == "s3://scones-unlimited/data_capture"


def test_local_target_points_everything_at_loopback() -> None:
    t = target_for(Settings(localstack_port=4566, sagemaker_port=4577))
    assert t.endpoint_url("s3") == "http://127.0.0.1:4566"
    assert t.endpoint_url("sagemaker-runtime") == "http://127.0.0.1:4577"
    env = t.process_env()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:4577"
    assert env["AWS_ACCESS_KEY_ID"] == "test"
    client = t.client("s3")
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert t.client("sagemaker").meta.endpoint_url == "http://127.0.0.1:4577"
    assert t.account_id() == "000000000000"


def test_localstack_target_gives_functions_the_compose_names() -> None:
    t = target_for(Settings(target="localstack"))
    assert t.endpoint_url("s3") == "http://127.0.0.1:4566"
    # One endpoint: the compose LocalStack forwards SageMaker to the emulator, IAM evaluated on the way.
    assert t.function_env() == {"AWS_ENDPOINT_URL": "http://localstack:4566"}


def test_aws_target_sets_no_endpoints_and_needs_credentials(monkeypatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    t = target_for(Settings(target="aws", region="eu-west-1"))
    assert t.endpoint_url("s3") is None and t.process_env() == {} and t.function_env() == {}
    with pytest.raises(TargetError, match="target 'aws' needs AWS credentials"):
        t.session()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    client = t.client("s3")
    assert client.meta.region_name == "eu-west-1"
    assert "amazonaws.com" in client.meta.endpoint_url


def test_unknown_target_name() -> None:
    # Settings do not list the targets (the registry does, so a new target is one line there).
    settings = load_settings(environ={"HARNESS_TARGET": "gcp"})
    with pytest.raises(TargetError, match="unknown target 'gcp': one of local, localstack, aws"):
        target_for(settings)
