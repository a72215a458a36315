"""training/Dockerfile, checked without a Docker engine: settings, dependencies, and its real entrypoints.

These tests need no engine (tests/containers/ builds and runs the image where one is): they
read the Dockerfile, compare it with the code and pyproject.toml, and execute
the exact ``train``/``serve`` wrapper scripts its RUN line writes.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "training" / "Dockerfile").read_text()
# Import name -> distribution name, where they differ.
DISTRIBUTION = {"PIL": "pillow", "onnxruntime": "onnxruntime"}


def _logical_lines() -> list[str]:
    return DOCKERFILE.replace("\\\n", " ").splitlines()


def test_image_listens_on_8080_on_all_interfaces() -> None:
    env = " ".join(line for line in _logical_lines() if line.startswith("ENV "))
    assert "SAGEMAKER_BIND_TO_HOST=0.0.0.0" in env
    assert "SAGEMAKER_BIND_TO_PORT=8080" in env
    assert "PYTHONPATH=/opt/program" in env
    assert "EXPOSE 8080" in DOCKERFILE
    assert "COPY training/ /opt/program/training/" in DOCKERFILE  # build context: the repository root


def test_image_installs_what_training_imports_with_the_project_torch_pin() -> None:
    installs = " ".join(line for line in _logical_lines() if "pip install" in line)
    installed = {m.lower() for m in re.findall(r'"?([A-Za-z][A-Za-z0-9_.-]*)(?:[=<>]=?[^"\s]*)?"?', installs)}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    torch_pin = next(
        d for d in pyproject["project"]["optional-dependencies"]["training"] if d.startswith("torch")
    )
    assert torch_pin in installs, f"Dockerfile must install {torch_pin} like pyproject.toml"
    assert "--index-url https://download.pytorch.org/whl/cpu" in installs
    stdlib = set(sys.stdlib_module_names)
    needed = set()
    for source in (REPO / "training").glob("*.py"):
        if source.name == "mxnet_model.py":  # the optional extra, served from its own environment
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            needed |= {n.split(".")[0] for n in names}
    third_party = {n for n in needed - stdlib if n not in ("training", "__future__")}
    assert third_party, "found no imports: the scan is broken"
    missing = {n for n in third_party if DISTRIBUTION.get(n, n).lower() not in installed}
    assert not missing, f"training/ imports {missing} but the Dockerfile does not install them"


def _entrypoints(tmp_path: Path) -> Path:
    """Run the Dockerfile's wrapper-writing RUN line with /usr/local/bin redirected to a temp folder."""
    run = next(line for line in _logical_lines() if "printf" in line and "/usr/local/bin/train" in line)
    command = run.removeprefix("RUN ").strip()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    subprocess.run(["sh", "-c", command.replace("/usr/local/bin/", f"{bin_dir}/")], check=True)
    return bin_dir


def test_train_and_serve_wrappers_run_the_modules(tmp_path: Path) -> None:
    bin_dir = _entrypoints(tmp_path)
    assert os.access(bin_dir / "train", os.X_OK) and os.access(bin_dir / "serve", os.X_OK)
    opt_ml = tmp_path / "opt_ml"
    (opt_ml / "input" / "config").mkdir(parents=True)
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"num_classes": "2"}))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "OPT_ML": str(opt_ml),
    }
    # SageMaker runs `docker run IMAGE train`: the wrapper on PATH.
    trained = subprocess.run(["train"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert trained.returncode == 1
    assert (opt_ml / "output" / "failure").read_text() == (
        "ClientError: missing required hyperparameter(s): num_training_samples"
    )
    served = subprocess.run(["serve"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert served.returncode == 1 and f"no model in {opt_ml / 'model'}" in served.stdout
