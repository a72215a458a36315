"""A target is an object: only harness/targets.py may compare a target's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config import TARGETS as TARGET_NAMES
from harness.config import Settings
from harness.targets import TARGETS, AwsTarget, LocalStackTarget, LocalTarget, TargetError, target_for

REPO = Path(__file__).resolve().parents[2]
NAMES = "|".join(TARGET_NAMES)
# `x == "aws"`, `"local" != x`, `x in ("local", "localstack")`, `match ...: case "aws":`
COMPARISONS = [
    re.compile(rf"""[!=]=\s*["']({NAMES})["']"""),
    re.compile(rf"""["']({NAMES})["']\s*[!=]="""),
    re.compile(rf"""\bin\s*[(\[{{]\s*["']({NAMES})["']"""),
    re.compile(rf"""case\s+["']({NAMES})["']"""),
]
# The code that must not branch on a target's name: everything the harness ships, and its tools.
SCANNED = ["harness", "benchmarks", "localstack_plugin"]


def test_no_string_comparison_on_a_target_name_outside_the_targets_module() -> None:
    offenders = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == REPO / "harness" / "targets.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                code = line.split("#", 1)[0]
                if "target" in code.lower() and any(p.search(code) for p in COMPARISONS):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], "compare target objects' attributes, not names:\n" + "\n".join(offenders)


def test_the_scan_would_catch_a_comparison() -> None:
    assert any(p.search('if settings.target == "aws":') for p in COMPARISONS)
    assert any(p.search("if target.name in ('local', 'localstack'):") for p in COMPARISONS)


def test_every_configurable_name_has_one_class() -> None:
    assert set(TARGETS) == set(TARGET_NAMES)
    for name, cls in TARGETS.items():
        target = target_for(Settings(target=name))
        assert type(target) is cls and target.name == name


@pytest.mark.parametrize(
    ("cls", "bills", "keeps"),
    [(LocalTarget, False, True), (LocalStackTarget, False, True), (AwsTarget, True, False)],
)
def test_what_each_target_knows(cls: type, bills: bool, keeps: bool) -> None:
    assert cls.bills is bills and cls.keeps_endpoint is keeps and cls.unreachable_hint


def test_unknown_target_is_a_clear_error() -> None:
    settings = Settings()
    settings.target = "moon"  # past the settings' own validation, as a stale object would be
    with pytest.raises(TargetError, match="unknown target 'moon'"):
        target_for(settings)


def test_localstack_target_refuses_the_builtin_image_before_any_call() -> None:
    target = target_for(Settings(target="localstack"))
    with pytest.raises(TargetError, match="built-in image"):
        target.bring_up(Settings(target="localstack", algorithm="builtin"))


def test_aws_bring_up_fails_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(TargetError, match="needs AWS credentials"):
        target_for(Settings(target="aws")).bring_up(Settings(target="aws"))
