"""Execute a Jupyter notebook cell by cell in a kernel that has the target's environment.

``harness notebook run FILE.ipynb`` is ``eval "$(harness env)"`` followed by "Run All" in Jupyter:

* the kernel is this interpreter (``sys.executable``, the project's virtual environment, where the
  SageMaker SDK and ipykernel are installed), described by a kernel spec in a temporary folder, so
  nothing is registered with the user's Jupyter;
* its environment is the caller's plus what ``harness env`` prints (:mod:`harness.client_env`);
* papermill-style parameters: values given with ``-p NAME VALUE`` go into a cell tagged
  ``injected-parameters`` right after the cell tagged ``parameters`` (papermill's own layout);
* ``sagemaker.get_execution_role()`` works unchanged the way SageMaker notebook instances and Studio make
  it work: the SDK first reads ``/opt/ml/metadata/resource-metadata.json``
  (``sagemaker.session.NOTEBOOK_METADATA_FILE``) and returns its ``ExecutionRoleArn`` without calling
  STS. The kernel runs in a private mount namespace (``unshare``) whose ``/opt`` is an overlay holding
  that file, so the file exists for the kernel only and nothing on the machine changes. Where that is
  not possible (not Linux, no ``unshare``, no user namespaces) :func:`role_metadata_prefix` says why.

nbclient, nbformat and jupyter_client come with the ``notebook`` extra; they are imported where used so
that the rest of the CLI runs without them.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The path the SageMaker Python SDK reads (v2 ``sagemaker/session.py``: NOTEBOOK_METADATA_FILE).
METADATA_FILE = Path("/opt/ml/metadata/resource-metadata.json")
KERNEL_NAME = "harness-python"


class NotebookError(RuntimeError):
    """A notebook that cannot be read or run: the message names the file or the cell."""


@dataclass
class CellResult:
    index: int  # position among all cells, 0-based
    number: int  # position among code cells, 1-based (what the table shows)
    first_line: str
    status: str = "not run"  # ok | error | not run
    seconds: float = 0.0
    error: str = ""


@dataclass
class RunResult:
    cells: list[CellResult] = field(default_factory=list)
    output: Path | None = None
    role_metadata: str = ""  # how get_execution_role() is served, or why it is not

    @property
    def failed(self) -> CellResult | None:
        return next((c for c in self.cells if c.status == "error"), None)


def parse_parameters(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs: VALUE as a Python literal (``3``, ``True``, ``'x'``), else as a string."""
    out: dict[str, Any] = {}
    for name, raw in pairs:
        if not name.isidentifier():
            raise NotebookError(f"parameter name {name!r} is not a Python identifier")
        try:
            out[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[name] = raw
    return out


def inject_parameters(nb: Any, parameters: dict[str, Any]) -> None:
    """Insert papermill's ``injected-parameters`` cell after the ``parameters`` cell (or first)."""
    import nbformat

    if not parameters:
        return
    source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    nb.cells.insert(tagged[0] + 1 if tagged else 0, cell)


def role_metadata_prefix(scratch: Path, role_arn: str) -> tuple[list[str] | None, str]:
    """The command prefix that gives the kernel the SDK's metadata file, and a note saying how or why not.

    ``[]`` when the file already exists (a real SageMaker notebook: its own file wins); ``None`` when it
    cannot be provided. The overlay's upper layer is ``scratch``; it disappears with the namespace.
    """
    if METADATA_FILE.exists():
        return [], f"{METADATA_FILE} exists already (a SageMaker notebook?): the SDK reads that one"
    if not sys.platform.startswith("linux"):
        return None, f"{METADATA_FILE} cannot be provided on {sys.platform} (needs Linux mount namespaces)"
    unshare = shutil.which("unshare")
    if unshare is None or not Path("/opt").is_dir():
        return None, f"{METADATA_FILE} cannot be provided: no 'unshare' command or no /opt folder"
    upper, work = scratch / "upper", scratch / "work"
    (upper / "ml" / "metadata").mkdir(parents=True, exist_ok=True)
    work.mkdir(exist_ok=True)
    document = {
        "ResourceArn": "arn:aws:sagemaker:::notebook-instance/harness",
        "ResourceName": "harness",
        "ExecutionRoleArn": role_arn,
    }
    (upper / "ml" / "metadata" / METADATA_FILE.name).write_text(json.dumps(document))
    script = f'mount -t overlay overlay -o lowerdir=/opt,upperdir={upper},workdir={work} /opt && exec "$@"'
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    prefix = [unshare, "--mount", "--propagation", "private", *user, "sh", "-c", script, "sh"]
    probe = subprocess.run([*prefix, "test", "-f", str(METADATA_FILE)], capture_output=True, text=True)
    if probe.returncode != 0:
        why = probe.stderr.strip().splitlines()[-1:] or ["no error message"]
        return None, f"{METADATA_FILE} cannot be provided: private mount namespace failed ({why[0]})"
    return prefix, f"{METADATA_FILE} (kernel's private /opt overlay) names {role_arn}"


def write_kernel_spec(folder: Path, prefix: list[str]) -> Path:
    """A kernel spec for this interpreter, in ``folder`` (never in the user's Jupyter paths)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [*prefix, sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python (harness)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1))
    return folder / "kernels"


def _first_line(source: str) -> str:
    """The cell's first line of code (a comment only when the cell has nothing else), to name it by."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    code = [line for line in lines if not line.startswith("#")]
    return (code or lines or ["(empty)"])[0][:80]


def _error_text(reply: dict[str, Any]) -> str:
    """``ename: evalue`` from the kernel's execute_reply (the outputs may still be arriving)."""
    evalue = str(reply.get("evalue", "")).strip()
    return f"{reply.get('ename', 'error')}: {evalue[:1000]}"


def run_notebook(
    path: Path,
    output: Path,
    env: dict[str, str],
    parameters: dict[str, Any],
    scratch: Path,
    prefix: list[str],
    cwd: Path | None = None,
    cell_timeout: int = 1800,
) -> RunResult:
    """Execute ``path`` cell by cell, stop at the first failing cell, save what ran to ``output``."""
    try:
        import nbformat
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError as exc:
        raise NotebookError(f"{exc.name} is not installed: pip install 'scones-harness[notebook]'") from exc
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise NotebookError(f"cannot read {path}: {exc}") from exc
    inject_parameters(nb, parameters)
    result = RunResult(output=output)
    by_index: dict[int, CellResult] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            by_index[i] = CellResult(i, len(by_index) + 1, _first_line(cell.source))
    result.cells = list(by_index.values())
    started: dict[int, float] = {}

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        started[cell_index] = time.monotonic()

    def on_executed(cell: Any, cell_index: int, execute_reply: Any, **_: Any) -> None:
        entry = by_index[cell_index]
        entry.seconds = time.monotonic() - started.get(cell_index, time.monotonic())
        content = execute_reply.get("content", {})
        failed = content.get("status") == "error"
        entry.status = "error" if failed else "ok"
        entry.error = _error_text(content) if failed else ""

    ksm = KernelSpecManager(kernel_dirs=[str(write_kernel_spec(scratch, prefix))])
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    client = NotebookClient(
        nb,
        km=km,
        timeout=cell_timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(cwd or path.parent)}},
        on_cell_start=on_start,
        on_cell_executed=on_executed,
    )
    try:
        client.execute(env=env)
    except CellExecutionError:
        pass  # on_executed recorded the cell and its error
    except (CellTimeoutError, DeadKernelError) as exc:
        running = next((c for c in result.cells if c.index in started and c.status == "not run"), None)
        if running is None:
            raise NotebookError(f"the kernel failed: {exc}") from exc
        running.status, running.error = "error", f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        output.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output)
    return result
