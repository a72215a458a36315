"""LocalStack launch settings and venv reuse (no LocalStack process, no pip: the e2e tests run those)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import Settings, SettingsError, load_settings
from harness.embedded import localstack, stack


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(home=tmp_path / "home", cache_dir=tmp_path / "cache", **changes)  # type: ignore[arg-type]


def test_launch_spec_binds_loopback_and_keeps_state_in_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    spec = localstack.launch_spec(_settings(tmp_path, localstack_port=4999), Path("/venv/bin/python"))

    assert spec.cmd == ["/venv/bin/python", "-m", "localstack.runtime.main"]
    assert spec.env["GATEWAY_LISTEN"] == "127.0.0.1:4999" and spec.env["GATEWAY_SERVER"] == "twisted"
    assert spec.env["LAMBDA_RUNTIME_EXECUTOR"] == "local"
    assert spec.env["HARNESS_LAMBDA_MAX_ENVIRONMENTS"] == "32"  # the plugin's cap, from the settings
    assert spec.env["LAMBDA_EXECUTOR_PYTHON"] == sys.executable
    assert spec.env["TMPDIR"] == str((tmp_path / "home" / "localstack" / "tmp").resolve())
    assert "AWS_ENDPOINT_URL" not in spec.env and "PYTHONPATH" not in spec.env
    assert spec.health_url == "http://127.0.0.1:4999/_localstack/health"
    # Always the harness-owned mock config file: `harness sfn-test` swaps its content, never the path.
    assert spec.env["SFN_MOCK_CONFIG"] == str(
        (tmp_path / "home" / "localstack" / "sfn-mock-config.json").resolve()
    )


def test_each_home_has_its_own_tls_certificate(tmp_path: Path) -> None:
    """LocalStack rewrites server.test.pem at every start; a shared one broke concurrent starts (issue 24)."""
    python = Path("/venv/bin/python")
    paths = [
        Path(
            localstack.launch_spec(Settings(home=tmp_path / name, cache_dir=tmp_path / "cache"), python).env[
                "CUSTOM_SSL_CERT_PATH"
            ]
        )
        for name in ("a", "b")
    ]
    assert paths[0] != paths[1]
    for name, path in zip(("a", "b"), paths, strict=True):
        assert path.is_relative_to((tmp_path / name).resolve()) and path.name == "server.test.pem"


def test_launch_spec_carries_the_lambda_runtime_and_iam_settings(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        lambda_interpreters="python3.12=/opt/py312/bin/python3.12",
        lambda_version_fallback=True,
        iam_enforcement="log",
    )
    spec = localstack.launch_spec(settings, Path("/venv/bin/python"))

    assert spec.env["LAMBDA_RUNTIME_CACHE"] == str((tmp_path / "cache" / "lambda-runtimes").resolve())
    assert spec.env["LAMBDA_PYTHON_INTERPRETERS"] == "python3.12=/opt/py312/bin/python3.12"
    assert spec.env["LAMBDA_PYTHON_FALLBACK"] == "1"
    assert spec.env["HARNESS_IAM_ENFORCEMENT"] == "log"


def test_tmp_isolation_is_a_setting_that_reaches_localstack(tmp_path: Path, monkeypatch) -> None:
    """Issue 20: a LAMBDA_TMP_ISOLATION of the caller's shell never reached LocalStack through tox."""
    monkeypatch.setenv("LAMBDA_TMP_ISOLATION", "dir")  # the caller's own variable no longer decides
    default = localstack.launch_spec(_settings(tmp_path), Path("/venv/bin/python"))
    assert default.env["LAMBDA_TMP_ISOLATION"] == "namespace"
    monkeypatch.setenv("HARNESS_LAMBDA_TMP_ISOLATION", "dir")
    from_env = localstack.launch_spec(load_settings(environ=None), Path("/venv/bin/python"))
    assert from_env.env["LAMBDA_TMP_ISOLATION"] == "dir"
    with pytest.raises(SettingsError, match="lambda_tmp_isolation must be one of namespace, dir"):
        _settings(tmp_path, lambda_tmp_isolation="chroot")


def test_iam_enforcement_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="iam_enforcement must be one of enforce, log, off"):
        _settings(tmp_path, iam_enforcement="strict")


def test_a_complete_venv_is_reused_without_running_pip(tmp_path: Path, monkeypatch) -> None:
    settings = _settings(tmp_path)
    venv = localstack.venv_dir(settings)
    python = localstack.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.touch()
    marker = {**localstack.wanted_marker(), "plugin": localstack.plugin_digest()}
    (venv / ".harness-venv.json").write_text(json.dumps(marker))

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected subprocess {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert localstack.ensure_venv(settings) == python


def test_an_outdated_plugin_is_reinstalled_and_a_failed_step_is_named(tmp_path: Path, monkeypatch) -> None:
    settings = _settings(tmp_path)
    venv = localstack.venv_dir(settings)
    localstack.venv_python(venv).parent.mkdir(parents=True)
    localstack.venv_python(venv).touch()
    (venv / ".harness-venv.json").write_text(json.dumps({**localstack.wanted_marker(), "plugin": "old"}))
    calls: list[list[str]] = []

    def failing_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(
        localstack.LocalStackSetupError, match="installing the local Lambda executor plugin failed"
    ):
        localstack.ensure_venv(settings)
    assert len(calls) == 1 and "--no-deps" in calls[0], "only the plugin, not the whole venv"


def test_status_without_a_running_stack(tmp_path: Path) -> None:
    statuses = stack.status(_settings(tmp_path, localstack_port=4998))

    assert [(s.name, s.running, s.pid) for s in statuses] == [
        ("localstack", False, None),
        ("sagemaker", False, None),
    ]
    assert statuses[0].url == "http://127.0.0.1:4998"
    assert stack.down(_settings(tmp_path)) == [("sagemaker", "not running"), ("localstack", "not running")]
