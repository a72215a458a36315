"""The harness CLI as a user meets it: help everywhere, one-line errors, staging from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
import typer
import typer.main
from typer.testing import CliRunner

from harness.config import load_settings
from harness.main import app

runner = CliRunner()


def _command_names() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def _leaf_commands() -> list[tuple[list[str], click.Command]]:
    """Every command a user can type, sub-commands of groups (``compose up``, ``faults endpoint``) too."""
    found: list[tuple[list[str], click.Command]] = []

    def walk(path: list[str], command: click.Command) -> None:
        if hasattr(command, "commands"):  # typer vendors its own click: not click.Group
            for name, sub in command.commands.items():  # type: ignore[attr-defined]
                walk([*path, name], sub)
        else:
            found.append((path, command))

    walk([], typer.main.get_command(app))
    return found


def test_every_command_has_help() -> None:
    names = _command_names()
    assert "stage" in names and "config" in names
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "--target" in result.output
    for name in names:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: harness {name}" in result.output.replace("root ", "harness "), result.output


def test_help_of_each_command_shows_its_own_options() -> None:
    """`harness run --help` once printed the top-level help (--help was hoisted like a global option)."""
    commands = _leaf_commands()
    assert len(commands) > 15
    for path, command in commands:
        own = [
            opt
            for param in command.params
            if param.param_type_name == "option"
            for opt in param.opts
            if opt.startswith("--")
        ]
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert " ".join(path) in result.output, (path, result.output)
        for opt in own:
            assert opt in result.output, (path, opt, result.output)
    run_help = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    for opt in ("--executions", "--concurrency", "--no-report"):
        assert opt in run_help
    assert "--out" in runner.invoke(app, ["stage", "--help"], env={"COLUMNS": "200"}).output
    # global options still work after the command
    assert runner.invoke(app, ["config", "--epochs", "3"]).output.count("epochs = 3") == 1


def test_config_shows_layered_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "harness.toml").write_text("[harness]\nbucket = 'file-bucket'\nepochs = 7\n")
    monkeypatch.setenv("HARNESS_EPOCHS", "8")
    result = runner.invoke(app, ["--threshold", "0.5", "config"])
    assert result.exit_code == 0, result.output
    assert 'bucket = "file-bucket"' in result.output
    assert "epochs = 8" in result.output and "threshold = 0.5" in result.output


def test_config_prints_toml_that_reads_back_as_the_same_settings(tmp_path: Path, monkeypatch) -> None:
    """`harness config > harness.toml` pins the settings: paths, booleans, quotes and all."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):  # tox sets HARNESS_LAMBDA_MAX_ENVIRONMENTS; only this test's count here
        if key.startswith("HARNESS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HARNESS_LAMBDA_VERSION_FALLBACK", "true")
    monkeypatch.setenv("HARNESS_TRAINING_IMAGE", 'repo/"quoted"\\image:1')
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "a home"))
    result = runner.invoke(app, ["--epochs", "4", "config"])
    assert result.exit_code == 0, result.output
    parsed = tomllib.loads(result.output)["harness"]
    assert parsed["lambda_version_fallback"] is True and parsed["epochs"] == 4
    assert parsed["home"] == str(tmp_path / "a home")
    printed = load_settings(environ={})  # defaults, to compare against
    (tmp_path / "pinned.toml").write_text(result.output)
    for key in ("HARNESS_LAMBDA_VERSION_FALLBACK", "HARNESS_TRAINING_IMAGE", "HARNESS_HOME"):
        monkeypatch.delenv(key)
    reread = load_settings(config_file=tmp_path / "pinned.toml", environ={})
    expected = load_settings(
        environ={
            "HARNESS_LAMBDA_VERSION_FALLBACK": "true",
            "HARNESS_TRAINING_IMAGE": 'repo/"quoted"\\image:1',
            "HARNESS_HOME": str(tmp_path / "a home"),
        },
        epochs=4,
    )
    assert reread == expected != printed


def test_bad_target_is_one_line_and_exit_1() -> None:
    result = runner.invoke(app, ["--target", "gcp", "config"])
    assert result.exit_code == 1
    assert "target must be one of local, localstack, aws" in result.output


def test_stage_out_and_bad_input_via_console_script(small_tarball: Path, tmp_path: Path) -> None:
    """The installed console script: real process, real exit codes, one-line errors."""
    exe = Path(sys.executable).with_name("harness")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness"]
    out = tmp_path / "out"
    ok = subprocess.run(
        [*cmd, "stage", "--dataset", str(small_tarball), "--out", str(out)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "14 written" in ok.stderr  # 12 PNGs + 2 manifests
    assert len(list(out.glob("*/*.png"))) == 12 and (out / "train.lst").is_file()
    again = subprocess.run(
        [*cmd, "stage", "--dataset", str(small_tarball), "--out", str(out)], capture_output=True, text=True
    )
    assert again.returncode == 0 and "already up to date" in again.stderr

    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(small_tarball.read_bytes()[:100])
    failed = subprocess.run(
        [*cmd, "stage", "--dataset", str(bad), "--out", str(tmp_path / "out2")],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "not a readable tar.gz archive" in failed.stderr
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("md5", ["0" * 32])
def test_stage_md5_mismatch_exit_code(small_tarball: Path, tmp_path: Path, md5: str) -> None:
    result = runner.invoke(
        app, ["stage", "--dataset", str(small_tarball), "--md5", md5, "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "md5 mismatch" in result.output
    assert not (tmp_path / "o").exists()


def test_stage_help_names_the_url_a_stage_without_dataset_downloads() -> None:
    from harness import cifar

    stage = typer.main.get_command(app).commands["stage"]
    dataset = next(p for p in stage.params if p.name == "dataset")
    assert cifar.OFFICIAL_URL in (dataset.help or "")


def test_cli_start_up_does_not_load_the_data_stack() -> None:
    """`harness --help` and `harness up` must not pay for pandas/matplotlib/torch imports."""
    heavy = "('pandas', 'matplotlib', 'torch')"
    code = f"import sys, harness.main; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_settings_options_are_accepted_after_the_command(tmp_path: Path, small_tarball: Path) -> None:
    """`harness run --epochs 5`, `harness stage --bucket X`: where two new users put them."""
    shown = runner.invoke(app, ["config", "--epochs", "5", "--bucket=after-bkt", "--threshold", "0.5"])
    assert shown.exit_code == 0, shown.output
    assert "epochs = 5" in shown.output and 'bucket = "after-bkt"' in shown.output
    assert "threshold = 0.5" in shown.output
    # Before and after mix; a command's own option of another name stays the command's.
    out = tmp_path / "staged"
    staged = runner.invoke(
        app, ["--target", "aws", "stage", "--bucket", "x", "--dataset", str(small_tarball), "--out", str(out)]
    )
    assert staged.exit_code == 0, staged.output
    assert (out / "train.lst").is_file()
    # `run` reaches its own checks (here: no terminal to confirm billing on) instead of a usage error.
    ran = runner.invoke(app, ["--target", "aws", "run", "--epochs", "5"], input="")
    assert ran.exit_code == 1 and "No such option" not in ran.output and "pass --yes" in ran.output
    # Values after `--` are not options of the harness.
    assert runner.invoke(app, ["config", "--", "--epochs", "5"]).exit_code == 2
