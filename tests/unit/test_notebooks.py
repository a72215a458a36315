"""`harness notebook run` without a cloud: cell-by-cell execution, parameters, the failing cell named,
the executed notebook saved, and the SageMaker notebook metadata file that `get_execution_role()` reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.commands import notebook as command
from harness.main import app
from harness.notebooks import METADATA_FILE, parse_parameters, role_metadata_prefix, run_notebook

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the notebook (and dev) extra")
pytest.importorskip("nbclient", reason="nbclient comes with the notebook (and dev) extra")
pytest.importorskip("ipykernel", reason="the kernel is this interpreter: ipykernel must be installed")

ROLE = "arn:aws:iam::000000000000:role/harness-notebook-test"


def tiny(path: Path, *sources: str, parameters: str = "") -> Path:
    cells = []
    if parameters:
        cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells.append(nbformat.v4.new_markdown_cell("# a tiny notebook"))
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_cells_run_in_order_with_parameters_and_the_environment(tmp_path: Path) -> None:
    nb = tiny(
        tmp_path / "ok.ipynb",
        "import os\nvalue = EPOCHS * 2",
        "print(value, NAME, os.environ['INJECTED'], os.getcwd())",
        parameters="EPOCHS = 30\nNAME = 'default'",
    )
    out = tmp_path / "out" / "ok.executed.ipynb"
    env = {**os.environ, "INJECTED": "from-harness"}
    params = parse_parameters([("EPOCHS", "2"), ("NAME", "given")])
    result = run_notebook(nb, out, env, params, tmp_path / "scratch", [], cwd=tmp_path)
    assert [c.status for c in result.cells] == ["ok"] * 4  # parameters, injected, two cells
    assert result.failed is None and all(c.seconds >= 0 for c in result.cells)
    executed = nbformat.read(out, as_version=4)
    injected = executed.cells[1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert injected.source == "# Parameters\nEPOCHS = 2\nNAME = 'given'\n"
    printed = executed.cells[-1].outputs[0]["text"]
    assert printed.strip() == f"4 given from-harness {tmp_path}"


def test_a_failing_cell_stops_the_run_and_is_named_with_its_error(tmp_path: Path) -> None:
    nb = tiny(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('no scones today')", "print('never')")
    out = tmp_path / "bad.executed.ipynb"
    result = run_notebook(nb, out, dict(os.environ), {}, tmp_path / "scratch", [])
    assert [c.status for c in result.cells] == ["ok", "error", "not run"]
    failed = result.failed
    assert failed is not None and failed.number == 2
    assert failed.error == "ValueError: no scones today"
    saved = nbformat.read(out, as_version=4)
    assert saved.cells[2].outputs[0]["ename"] == "ValueError", "the executed notebook keeps the traceback"
    assert saved.cells[3].outputs == []


def test_the_command_exits_non_zero_naming_the_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The target's environment needs a cloud; here it is a stand-in, the rest is the real command.
    monkeypatch.setattr(command, "target_environment", lambda settings: ({"INJECTED": "yes"}, ROLE))
    nb = tiny(tmp_path / "cli.ipynb", "import os\nassert os.environ['INJECTED'] == 'yes'", "1 / 0")
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "notebook", "run", str(nb), "--no-role-metadata"]
    )
    assert result.exit_code == 1, result.output
    assert "cell 2 ('1 / 0') failed: ZeroDivisionError: division by zero" in result.output
    assert (tmp_path / "cli.executed.ipynb").is_file()


def test_bad_parameters_and_missing_notebooks_are_named(tmp_path: Path) -> None:
    assert parse_parameters([("N", "3"), ("S", "text"), ("B", "True")]) == {"N": 3, "S": "text", "B": True}
    runner = CliRunner()
    missing = runner.invoke(app, ["notebook", "run", str(tmp_path / "nope.ipynb")])
    assert missing.exit_code == 1 and "no notebook at" in missing.output
    nb = tiny(tmp_path / "p.ipynb", "1")
    bad = runner.invoke(app, ["notebook", "run", str(nb), "-p", "EPOCHS"])
    assert bad.exit_code == 1 and "is not NAME=VALUE" in bad.output


def test_get_execution_role_reads_the_metadata_file_the_kernel_alone_sees(tmp_path: Path) -> None:
    """SDK v2 `Session.get_caller_identity_arn` returns the file's ExecutionRoleArn before asking STS
    (sagemaker-python-sdk src/sagemaker/session.py, NOTEBOOK_METADATA_FILE)."""
    sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker SDK is a dev dependency")
    if not sagemaker.__version__.startswith("2."):
        pytest.skip(f"SDK v2's get_execution_role; this is sagemaker {sagemaker.__version__}")
    if METADATA_FILE.exists():
        pytest.skip(f"{METADATA_FILE} exists on this machine: the harness leaves it alone")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    prefix, note = role_metadata_prefix(scratch, ROLE)
    if prefix is None:
        pytest.skip(f"no private mount namespace here: {note}")
    nb = tiny(tmp_path / "role.ipynb", "import sagemaker\nprint(sagemaker.get_execution_role())")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Anything that reached the network would fail here instead of finding real credentials.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = run_notebook(nb, tmp_path / "role.out.ipynb", env, {}, scratch, prefix)
    assert result.failed is None, result.failed
    out = nbformat.read(tmp_path / "role.out.ipynb", as_version=4)
    assert out.cells[-1].outputs[-1]["text"].strip() == ROLE
    assert not METADATA_FILE.exists(), "the file exists for the kernel only"
    assert (
        json.loads((scratch / "upper/ml/metadata/resource-metadata.json").read_text())["ExecutionRoleArn"]
        == ROLE
    )
