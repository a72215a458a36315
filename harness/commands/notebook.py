"""``harness notebook run FILE.ipynb``: execute a notebook cell by cell against the target.

The kernel gets what ``harness env`` prints (the same bucket, role and SDK config, from
:mod:`harness.account` and :mod:`harness.client_env`), and ``get_execution_role()`` answers with that
role (see :mod:`harness.notebooks`). Each code cell's status and time is printed as a table; the executed
notebook is saved (``<name>.executed.ipynb`` next to the input unless ``--out``); the exit code is 1
when a cell failed, and the message names that cell and its error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.cli import HarnessError, app, console, settings_of
from harness.commands.env import target_environment
from harness.notebooks import NotebookError, RunResult, parse_parameters, role_metadata_prefix, run_notebook

notebook_app = typer.Typer(
    cls=app.info.cls, help="Execute Jupyter notebooks against the target.", no_args_is_help=True
)
app.add_typer(notebook_app, name="notebook")


def show(result: RunResult) -> None:
    table = Table(title="cells", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True, min_width=2)
    table.add_column("cell", no_wrap=True, overflow="ellipsis", max_width=44)
    table.add_column("status", no_wrap=True, min_width=7)
    table.add_column("seconds", justify="right", no_wrap=True, min_width=7)
    style = {"ok": "green", "error": "bold red", "not run": "dim"}
    for cell in result.cells:
        status = f"[{style[cell.status]}]{cell.status}[/]"
        seconds = f"{cell.seconds:.1f}" if cell.status != "not run" else ""
        table.add_row(str(cell.number), cell.first_line, status, seconds)
    console.print(table)


@notebook_app.command("run")
def run(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The notebook (.ipynb) to execute.")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to save the executed notebook.")] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--parameter",
            help="NAME=VALUE, papermill-style (a cell after the one tagged 'parameters'); repeatable.",
        ),
    ] = None,
    cwd: Annotated[
        Path | None, typer.Option("--cwd", help="The kernel's working folder (default: the notebook's).")
    ] = None,
    cell_timeout: Annotated[int, typer.Option("--cell-timeout", help="Seconds one cell may run.")] = 1800,
    role_metadata: Annotated[
        bool,
        typer.Option(
            "--role-metadata/--no-role-metadata",
            help="Give the kernel SageMaker's notebook metadata file so get_execution_role() works.",
        ),
    ] = True,
) -> None:
    """Run every cell with the target's environment; a table of each cell's status and time."""
    if not path.is_file():
        raise HarnessError(f"no notebook at {path}")
    pairs = []
    for item in parameter or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise HarnessError(f"--parameter {item!r} is not NAME=VALUE")
        pairs.append((name.strip(), value))
    settings = settings_of(ctx)
    output = out or path.with_name(f"{path.stem}.executed.ipynb")
    env, role = target_environment(settings)
    with tempfile.TemporaryDirectory(prefix="harness-notebook-") as scratch:
        prefix, note = role_metadata_prefix(Path(scratch), role) if role_metadata else ([], "")
        if role_metadata:
            console.print(f"# get_execution_role(): {note}", highlight=False, style="dim", soft_wrap=True)
        try:
            result = run_notebook(
                path,
                output,
                {**os.environ, **env},
                parse_parameters(pairs),
                Path(scratch),
                prefix or [],
                cwd=cwd,
                cell_timeout=cell_timeout,
            )
        except NotebookError as exc:
            raise HarnessError(str(exc)) from exc
    show(result)
    console.print(f"executed notebook: {output}", highlight=False, soft_wrap=True)
    failed = result.failed
    if failed is not None:
        raise HarnessError(f"cell {failed.number} ({failed.first_line!r}) failed: {failed.error}")
