"""``harness report``: the endpoint's captured inferences as an HTML report or JSON figures."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from harness.cli import HarnessError, app, console, settings_of
from harness.report import ReportError, build_report
from harness.targets.registry import target_for


class ReportFormat(StrEnum):
    html = "html"
    json = "json"


@app.command()
def report(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for index.html, the PNGs and figures.json (default <home>/report)."),
    ] = None,
    format: Annotated[
        ReportFormat,
        typer.Option(
            "--format", help="html: write the report folder; json: print the summary figures to stdout."
        ),
    ] = ReportFormat.html,
    endpoint: Annotated[
        str | None, typer.Option(help="Endpoint whose capture to read (default: the configured endpoint).")
    ] = None,
) -> None:
    """Report on the endpoint's captured inferences: confidence, pass rate, accuracy, plots."""
    settings = settings_of(ctx)
    target = target_for(settings)
    # JSON is for machines: it writes files only when --out asks for them.
    out_dir = out if format is ReportFormat.json else (out or settings.home / "report")
    try:
        result = build_report(settings, target, out_dir, endpoint=endpoint)
    except ReportError as exc:
        raise HarnessError(str(exc)) from exc
    except EndpointConnectionError as exc:
        raise HarnessError(
            f"cannot reach S3 of target {target.name!r} at {target.endpoint_url('s3') or 'AWS'}"
            + f" ({target.unreachable_hint})"
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        raise HarnessError(f"reading the capture from s3://{settings.bucket} failed: {exc}") from exc

    figures = result.figures
    if format is ReportFormat.json:
        payload = dict(figures)
        if result.files:
            payload["written"] = {name: str(path) for name, path in result.files.items()}
        print(json.dumps(payload, indent=2))
        return
    rate = "n/a" if figures["pass_rate"] is None else f"{figures['pass_rate']:.1%}"
    accuracy = "n/a" if figures["accuracy"] is None else f"{figures['accuracy']:.1%}"
    console.print(
        f"{figures['records']} inferences, pass rate {rate} at {figures['threshold']:g}, "
        f"accuracy {accuracy} ({figures['labelled']} labelled), "
        f"{figures['corrupt_lines_skipped']} corrupt line(s) skipped",
        highlight=False,
    )
    print(result.html_path)
