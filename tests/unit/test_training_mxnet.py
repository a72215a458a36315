"""Optional extra: serving a built-in algorithm (MXNet) artifact with the same server.

MXNet 1.9.1 cannot live in the project's environment (it needs numpy 1.23.5), so
this test drives a separate interpreter: ``$MXNET_PYTHON``, or
``.venv-mxnet/bin/python`` at the repository root, built from
training/requirements-mxnet.txt. Without one it is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.embedded.process import stop_child
from tests.support.training import bar_image, png_bytes

REPO = Path(__file__).resolve().parents[2]


def _mxnet_python() -> tuple[str | None, str]:
    """The MXNet interpreter, or ``None`` and why not. ``$MXNET_PYTHON`` set means "must work"."""
    candidate = os.environ.get("MXNET_PYTHON") or str(REPO / ".venv-mxnet" / "bin" / "python")
    if not (shutil.which(candidate) or Path(candidate).is_file()):
        return None, f"{candidate} does not exist"
    probe = subprocess.run([candidate, "-c", "import mxnet"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return None, f"{candidate} cannot import mxnet: {probe.stderr.strip()[-500:]}"
    return candidate, ""


MXNET_PYTHON, WHY_NOT = _mxnet_python()
# CI sets MXNET_PYTHON (.ci/run builds the environment): there a broken environment fails the test.
REQUIRED = bool(os.environ.get("MXNET_PYTHON"))
pytestmark = pytest.mark.skipif(
    MXNET_PYTHON is None and not REQUIRED,
    reason="no MXNet environment: set MXNET_PYTHON or build .venv-mxnet from training/requirements-mxnet.txt",
)


def test_the_mxnet_environment_works_where_it_is_required() -> None:
    assert MXNET_PYTHON is not None, f"MXNET_PYTHON is set but unusable: {WHY_NOT}"


def test_builtin_artifact_is_served_with_mxnets_own_probabilities(tmp_path: Path) -> None:
    assert MXNET_PYTHON is not None, WHY_NOT
    model_dir = tmp_path / "opt_ml" / "model"
    model_dir.mkdir(parents=True)
    probe = png_bytes(bar_image(1, 32, np.random.default_rng(2)))
    (model_dir / "probe.png").write_bytes(probe)
    made = subprocess.run(
        [MXNET_PYTHON, str(REPO / "tests" / "unit" / "mxnet_builtin_artifact.py"), str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert made.returncode == 0, made.stderr
    expected = json.loads(made.stdout.strip().splitlines()[-1])
    assert {p.name for p in model_dir.iterdir()} >= {
        "image-classification-symbol.json",
        "image-classification-0003.params",
        "model-shapes.json",
    }

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "OPT_ML": str(tmp_path / "opt_ml"),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [MXNET_PYTHON, "-m", "training.serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mxnet server did not answer /ping"
            time.sleep(0.2)
        response = httpx.post(
            f"{url}/invocations", content=probe, headers={"content-type": "image/png"}, timeout=30
        )
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json(), expected, rtol=1e-5)
        lines = httpx.post(
            f"{url}/invocations",
            content=probe,
            headers={"content-type": "image/png", "accept": "application/jsonlines"},
            timeout=30,
        )
        np.testing.assert_allclose(json.loads(lines.text)["prediction"], expected, rtol=1e-5)
    finally:
        stop_child(server)
        log.close()
    assert "MXNetClassifier" in (tmp_path / "server.log").read_text()
