"""``harness env``: print the variables that point a shell, a notebook or an IDE at the target.

``eval "$(harness env)"`` (sh, bash, zsh), ``harness env --format fish | source``, ``harness env
--format dotenv > .env`` (VS Code, docker compose, python-dotenv) or ``--format json``. Variables go
to stdout, everything else to stderr, so the output can be evaluated as is.
"""

from __future__ import annotations

from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from harness.account import ensure_bucket, sagemaker_role
from harness.cli import HarnessError, app, console, settings_of
from harness.client_env import FORMATS, environment, render
from harness.targets.registry import target_for


@app.command()
def env(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", help="sh (export lines, the default) | fish | dotenv | json.")
    ] = "sh",
) -> None:
    """Print endpoint, credentials, region, execution role, bucket and a SageMaker SDK config file."""
    if fmt not in FORMATS:
        raise HarnessError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    settings = settings_of(ctx)
    target = target_for(settings)
    try:
        ensure_bucket(target.client("s3"), settings.bucket, settings.region)
        role = sagemaker_role(target)
    except EndpointConnectionError as exc:
        raise HarnessError(
            f"cannot reach {exc.kwargs.get('endpoint_url')} ({target.unreachable_hint})"
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        raise HarnessError(f"cannot prepare the bucket and execution role: {exc}") from exc
    print(render(environment(settings, target, role), fmt), end="")
    note = f"# role {role}, bucket s3://{settings.bucket}"
    console.print(note, highlight=False, style="dim", soft_wrap=True)
