"""The shipped notebooks/scones_unlimited.ipynb, executed cell by cell by `harness notebook run` on the
embedded cloud: stage, train, deploy with capture, Lambdas and the state machine, executions, the plots.

The notebook calls `get_execution_role()` unchanged: the harness gives the kernel the metadata file of
SageMaker notebook instances (/opt/ml/metadata/resource-metadata.json, read first by SDK v2's
`Session.get_caller_identity_arn`, sagemaker-python-sdk src/sagemaker/session.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from harness.config import Settings
from harness.names import SAGEMAKER_ROLE
from harness.notebooks import METADATA_FILE
from tests.conftest import MINI_DATASET, REPO_ROOT
from tests.e2e.notebook_support import harness_cli_env
from tests.support.cifar import separable_batch, write_tarball

pytestmark = pytest.mark.e2e

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the notebook (and dev) extra")
pytest.importorskip("ipykernel", reason="the kernel is this interpreter: ipykernel must be installed")
pytest.importorskip("sagemaker", reason="the SageMaker Python SDK is a dev dependency")
if int(metadata.version("sagemaker").split(".")[0]) != 2:
    pytest.skip(
        f"SDK v2 notebook; this has sagemaker {metadata.version('sagemaker')}", allow_module_level=True
    )

NOTEBOOK = REPO_ROOT / "notebooks" / "scones_unlimited.ipynb"
EXECUTIONS = 3
# The harness's SageMaker execution role (what `harness env` ensures), in LocalStack's account.
ROLE = f"arn:aws:iam::000000000000:role/{SAGEMAKER_ROLE}"


@pytest.fixture(scope="module")
def executed(embedded_cloud: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("notebook-run")
    settings = embedded_cloud.replace(bucket=f"notebook-run-{uuid.uuid4().hex[:6]}")
    notebook = Path(shutil.copy(NOTEBOOK, tmp / NOTEBOOK.name))
    dataset = MINI_DATASET
    if not dataset.is_file():  # the real mini set when the project's shared/ folder has it
        dataset = write_tarball(
            tmp / "tiny.tar.gz", train=separable_batch(32, "train", 3), test=separable_batch(4, "test", 4)
        )
    params = {
        "DATASET": dataset,
        "LAMBDAS_DIR": REPO_ROOT / "lambdas",
        "STATE_MACHINE_FILE": REPO_ROOT / "statemachine" / "scones.asl.json",
        "EPOCHS": 2,
        "EXECUTIONS": EXECUTIONS,
    }
    args = [
        a for k, v in params.items() for a in ("-p", f"{k}={str(v)!r}" if isinstance(v, Path) else f"{k}={v}")
    ]
    ran = subprocess.run(
        [str(Path(sys.executable).with_name("harness")), "notebook", "run", str(notebook), *args],
        env=harness_cli_env(settings),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    out = tmp / "scones_unlimited.executed.ipynb"
    return {"ran": ran, "out": out, "tmp": tmp, "settings": settings}


def test_every_cell_of_the_shipped_notebook_runs(executed: dict) -> None:
    ran = executed["ran"]
    errors = ""
    if executed["out"].is_file():  # what the failing cell printed, for the assertion message
        for cell in nbformat.read(executed["out"], as_version=4).cells:
            for o in cell.get("outputs", []):
                errors += "".join(o.get("text", "")) + "\n".join(o.get("traceback", []))[-3000:]
    assert ran.returncode == 0, f"{ran.stderr[-6000:]}\n{errors[-8000:]}"
    assert " error " not in ran.stderr and "not run" not in ran.stderr, ran.stderr
    nb = nbformat.read(executed["out"], as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[1].metadata["tags"] == ["injected-parameters"]
    assert all(c.execution_count for c in code), "every code cell ran"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert (executed["tmp"] / "capture.png").stat().st_size > 0, "the capture plot was saved"


def test_get_execution_role_answers_the_harness_role(executed: dict) -> None:
    if METADATA_FILE.exists():
        pytest.skip(f"{METADATA_FILE} exists on this machine: the SDK reads that one")
    ran = executed["ran"]
    assert "cannot be provided" not in ran.stderr, ran.stderr
    nb = nbformat.read(executed["out"], as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code" and "role = get_execution_role()" in c.source)
    printed = "".join(o.get("text", "") for o in setup.outputs if o.get("name") == "stdout")
    lines = printed.splitlines()  # the SDK logs its config lookups to stdout too
    assert [line for line in lines if line.startswith("role ")] == [f"role {ROLE}"], printed
    assert f"bucket {executed['settings'].bucket}" in lines


def test_the_table_lists_each_cell_with_its_time(executed: dict) -> None:
    table = executed["ran"].stderr
    assert "seconds" in table and "ok" in table
    assert str(executed["out"]) in table.replace("\n", "")
