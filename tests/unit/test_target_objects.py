"""A target is an object: callers ask its capabilities, only harness/targets/ knows names and classes, and
the target is built once, where a command starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import faults
from harness.config import Settings
from harness.main import app
from harness.targets.base import TargetError
from harness.targets.registry import TARGETS, target_for

REPO = Path(__file__).resolve().parents[2]
TARGETS_PACKAGE = REPO / "harness" / "targets"
NAMES = "|".join(TARGETS)
# `x == "aws"`, `"local" != x`, `x in ("local", "localstack")`, `match ...: case "aws":`
COMPARISONS = [
    re.compile(rf"""[!=]=\s*["']({NAMES})["']"""),
    re.compile(rf"""["']({NAMES})["']\s*[!=]="""),
    re.compile(rf"""\bin\s*[(\[{{]\s*["']({NAMES})["']"""),
    re.compile(rf"""case\s+["']({NAMES})["']"""),
]
CLASS_NAMES = "|".join(cls.__name__ for cls in TARGETS.values())
ISINSTANCE = re.compile(rf"\bisinstance\([^)]*\b({CLASS_NAMES}|Target)\b")
# The code that must not branch on a target's name or class: everything the harness ships, and its tools.
SCANNED = ["harness", "benchmarks", "localstack_plugin"]
# Where a command starts: the only places in harness/ that build a target.
COMMAND_STARTS = (REPO / "harness" / "commands", REPO / "harness" / "pytest_plugin")
runner = CliRunner()


def _lines(folders: list[str]) -> list[tuple[Path, int, str]]:
    found = []
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            if TARGETS_PACKAGE in path.parents:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                found.append((path, number, line.split("#", 1)[0]))
    return found


def test_no_string_comparison_on_a_target_name_outside_the_targets_package() -> None:
    offenders = [
        f"{p.relative_to(REPO)}:{n}: {code.strip()}"
        for p, n, code in _lines(SCANNED)
        if "target" in code.lower() and any(c.search(code) for c in COMPARISONS)
    ]
    assert offenders == [], "ask the target's capabilities, not its name:\n" + "\n".join(offenders)


def test_no_isinstance_on_a_target_class_outside_the_targets_package() -> None:
    offenders = [
        f"{p.relative_to(REPO)}:{n}: {code.strip()}"
        for p, n, code in _lines(SCANNED)
        if ISINSTANCE.search(code)
    ]
    assert offenders == [], "ask target.capabilities instead:\n" + "\n".join(offenders)


def test_target_for_is_called_only_where_a_command_starts() -> None:
    offenders = [
        f"{p.relative_to(REPO)}:{n}: {code.strip()}"
        for p, n, code in _lines(["harness"])
        if "target_for(" in code and not any(start in p.parents for start in COMMAND_STARTS)
    ]
    assert offenders == [], "take the target you are handed:\n" + "\n".join(offenders)


def test_the_scans_would_catch_a_comparison_an_isinstance_and_a_rebuild() -> None:
    assert any(p.search('if settings.target == "aws":') for p in COMPARISONS)
    assert any(p.search("if target.name in ('local', 'localstack'):") for p in COMPARISONS)
    assert ISINSTANCE.search("if not isinstance(target, LocalTarget):")


def test_every_registered_name_builds_its_own_class_with_its_settings() -> None:
    for name, cls in TARGETS.items():
        settings = Settings(target=name, region="eu-west-1")
        target = target_for(settings)
        assert type(target) is cls and target.name == name
        assert target.settings is settings and target.region == "eu-west-1"


def test_unknown_target_is_a_clear_error() -> None:
    with pytest.raises(TargetError, match="unknown target 'moon': one of local, localstack, aws"):
        target_for(Settings(target="moon"))


def test_the_fault_api_is_refused_where_the_target_has_none() -> None:
    aws = target_for(Settings(target="aws"))
    with pytest.raises(TargetError, match="target aws has none"):
        faults.list_faults(aws)
    local = target_for(Settings(sagemaker_port=4999))
    assert faults._url(local, "") == "http://127.0.0.1:4999/_emulator/faults"


def test_sfn_test_is_refused_where_step_functions_has_no_mocks() -> None:
    result = runner.invoke(app, ["--target", "localstack", "sfn-test"])
    assert result.exit_code == 1 and "sfn-test runs on the embedded target" in result.output


def test_a_billing_target_runs_only_when_confirmed() -> None:
    # `harness run` asks the target whether it bills; without a terminal to confirm on it refuses.
    refused = runner.invoke(app, ["--target", "aws", "run"], input="")
    assert refused.exit_code == 1 and "pass --yes" in refused.output


def test_localstack_target_refuses_the_builtin_image_before_any_call() -> None:
    target = target_for(Settings(target="localstack", algorithm="builtin"))
    with pytest.raises(TargetError, match="built-in image"):
        target.bring_up()


def test_aws_bring_up_fails_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(TargetError, match="needs AWS credentials"):
        target_for(Settings(target="aws")).bring_up()
