"""What the notebook replays share: the environment `harness env` prints, and running a replay in it.

A replay runs in a fresh interpreter whose environment is ``PATH`` plus exactly what ``harness env``
printed (and a throw-away ``HOME``, so no ``~/.aws`` or SDK config of the developer's leaks in): the
set-up a user gets from ``eval "$(harness env)"``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.config import Settings
from tests.support.cifar import separable_batch, write_tarball

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def harness_cli_env(settings: Settings) -> dict[str, str]:
    """The variables that make the `harness` console script use the test session's embedded cloud."""
    return {
        **os.environ,
        "HARNESS_HOME": str(settings.home),
        "HARNESS_LOCALSTACK_PORT": str(settings.localstack_port),
        "HARNESS_SAGEMAKER_PORT": str(settings.sagemaker_port),
        "HARNESS_BUCKET": settings.bucket,
        "HARNESS_TARGET": "local",
    }


def harness(settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("harness")
    result = subprocess.run(
        [str(exe), *args], env=harness_cli_env(settings), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"harness {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


def harness_env(settings: Settings) -> dict[str, str]:
    """What `harness env --format json` prints for ``settings``."""
    return json.loads(harness(settings, "env", "--format", "json").stdout)


def user_env(printed: dict[str, str], home: Path, **extra: str) -> dict[str, str]:
    """A user's shell after ``eval "$(harness env)"``: PATH, a clean HOME, the printed variables."""
    home.mkdir(parents=True, exist_ok=True)
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
    if "PYENV_ROOT" in os.environ:  # the AWS CLI may be a pyenv shim
        base["PYENV_ROOT"] = os.environ["PYENV_ROOT"]
    return {**base, **printed, **extra}


def replay(
    script: str, env: dict[str, str], cwd: Path, python: str = sys.executable, timeout: float = 600
) -> dict[str, Any]:
    """Run ``notebooks/<script>`` under the response checker; its JSON line plus the checker's."""
    result = subprocess.run(
        [python, "-m", "tests.e2e.notebooks.run", str(NOTEBOOKS / script)],
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    # The SDK's own output shares stdout (v3's progress panel ends without a newline): take the last two
    # JSON objects, wherever their line starts.
    lines = [line[line.index('{"') :] for line in result.stdout.splitlines() if '{"' in line]
    assert result.returncode == 0 and len(lines) >= 2, (
        f"{script} failed (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return {"notebook": json.loads(lines[-2]), "responses": json.loads(lines[-1]), "stderr": result.stderr}


def stage_and_replay(settings: Settings, tmp: Path, script: str) -> dict[str, Any]:
    """Stage a tiny separable set with the harness (as the notebooks' ETL cells would have), print
    ``harness env``, and replay ``notebooks/<script>`` once in that environment."""
    tarball = write_tarball(
        tmp / "tiny.tar.gz",
        train=separable_batch(32, "train", seed=3),
        test=separable_batch(4, "test", seed=4),
    )
    harness(settings, "stage", "--dataset", str(tarball))
    printed = harness_env(settings)
    env = user_env(printed, tmp / "home", NUM_TRAINING_SAMPLES="64", EPOCHS="3")
    return {"settings": settings, "printed": printed, "env": env, **replay(script, env, tmp)}
