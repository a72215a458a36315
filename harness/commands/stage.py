"""``harness stage``: CIFAR-100 bicycles and motorcycles to S3 (or a folder) as PNGs with manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from harness.cifar import OFFICIAL_URL, DatasetError
from harness.cli import HarnessError, app, console, settings_of
from harness.progress import progress_bar
from harness.staging import stage_dataset
from harness.targets.registry import target_for


@app.command()
def stage(
    ctx: typer.Context,
    dataset: Annotated[
        str | None,
        typer.Option(help=f"CIFAR-100 python tarball: a local path or URL (default {OFFICIAL_URL})."),
    ] = None,
    md5: Annotated[
        str | None,
        typer.Option(help="Expected md5 of the tarball (the official URL is always checked)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the staged tree to this folder instead of the target's S3.")
    ] = None,
) -> None:
    """Stage the bicycle/motorcycle images as PNGs with train.lst/test.lst, idempotently.

    Without --dataset, a complete staged set already in the bucket is reused as it is (no download).
    """
    settings = settings_of(ctx)
    target = None if out is not None else target_for(settings)
    try:
        with progress_bar(console) as bars:
            result = stage_dataset(settings, dataset, md5=md5, out=out, bars=bars, target=target)
    except DatasetError as exc:
        raise HarnessError(str(exc)) from exc
    except EndpointConnectionError as exc:
        raise HarnessError(
            f"cannot reach S3 at {exc.kwargs.get('endpoint_url')} ({getattr(target, 'unreachable_hint', '')})"
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        raise HarnessError(f"S3 error while staging: {exc}") from exc
    if result.reused:
        console.print(result.reuse_note(), highlight=False)
        return
    counts = ", ".join(
        f"{split}: " + " / ".join(f"{n} {name}" for name, n in per_class.items())
        for split, per_class in result.counts.items()
    )
    console.print(f"[green]staged[/] {result.total} files to {result.destination} ({counts})")
    if result.written:
        console.print(f"{len(result.written)} written, {result.unchanged} already up to date")
    else:
        verb = "write" if out is not None else "upload"
        console.print(f"nothing to {verb}: all {result.unchanged} files already up to date")
