"""Packaging: `pip install ".[training]"` (not editable) into a fresh venv, then `harness run` (mini set).

Nothing of the source tree is importable in that run: the package is built from a copy of the tracked
files, installed into its own venv, and run from an empty folder. So the run proves that lambdas/,
statemachine/, the LocalStack plugin and the emulator are found as installed package data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.embedded.process import free_ports

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    return done


def test_a_non_editable_install_runs_the_workflow(tmp_path: Path, mini_dataset: Path) -> None:
    source = tmp_path / "src"
    tracked = _run(["git", "ls-files", "-z"], cwd=REPO).stdout.split("\0")
    for rel in filter(None, tracked):
        if (REPO / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, source / rel)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{source}[training]",
        ],
        timeout=1200,
    )
    work = tmp_path / "work"
    work.mkdir()
    where = _run(
        [str(python), "-c", "import harness, training; print(harness.__file__, training.__file__)"], cwd=work
    )
    assert str(source) not in where.stdout and str(REPO) not in where.stdout, where.stdout

    ls_port, sm_port = free_ports(2)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HARNESS_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        HARNESS_HOME=str(work / ".harness"),
        HARNESS_LOCALSTACK_PORT=str(ls_port),
        HARNESS_SAGEMAKER_PORT=str(sm_port),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    harness = str(venv / "bin" / "harness")
    try:
        ran = _run(
            [harness, "run", "--dataset", str(mini_dataset), "--epochs", "2", "--executions", "20", "--json"],
            cwd=work,
            env=env,
            timeout=1200,
        )
    finally:
        subprocess.run([harness, "down"], cwd=work, env=env, capture_output=True, timeout=120, check=False)
    summary = json.loads(ran.stdout.strip().splitlines()[-1])
    assert summary["executions"] == 20
    assert summary["succeeded"] + summary.get("failed_by_error", {}).get("ThresholdConfidenceNotMet", 0) == 20
    assert (work / ".harness" / "report" / "index.html").is_file()
