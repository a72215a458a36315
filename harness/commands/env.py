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
from harness.config import Settings
from harness.targets.registry import target_for


def target_environment(settings: Settings) -> tuple[dict[str, str], str]:
    """What ``harness env`` prints (the bucket and the execution role made sure of first), and the role:
    for ``harness env`` and for the kernels ``harness notebook run`` starts."""
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
    return environment(settings, target, role), role


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
    variables, role = target_environment(settings)
    print(render(variables, fmt), end="")
    note = f"# role {role}, bucket s3://{settings.bucket}"
    console.print(note, highlight=False, style="dim", soft_wrap=True)
