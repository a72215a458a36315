"""The ``harness`` command line.

Every command takes the same global options (target, config file, and the
settings most often changed on the command line); they are resolved once, in
:func:`_main`, into a :class:`~harness.config.Settings` stored on the typer
context, so each command starts from the same layered settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from harness.config import Settings, SettingsError, load_settings, to_toml
from harness.targets.base import TargetError
from harness.targets.registry import TARGETS


class HarnessError(RuntimeError):
    """An expected failure: printed as one line naming the problem, exit code 1."""


EXPECTED_ERRORS = (HarnessError, SettingsError, TargetError)


class _Group(TyperGroup):
    """Turns expected errors from any command into one red line and exit code 1, never a traceback.

    It also accepts the global settings options after the command (``harness run --epochs 5``,
    ``harness stage --bucket X``), where new users put them: they are moved in front of the command
    before parsing, unless the command has an option of the same name.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, list(args)))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            _print_error(str(exc))
            ctx.exit(1)


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``[cmd, --epochs, 5, --out, d]`` -> ``[--epochs, 5, cmd, --out, d]`` for the group's own options."""
    # Typer vendors its own click: recognise options by what they are, not by click's class.
    # ``--help`` belongs to whichever command it follows: hoisted, it would show the top-level help for
    # every command (``harness run --help`` must list ``--executions``).
    help_names = set(ctx.help_option_names)
    takes_value = {
        opt: not param.is_flag
        for param in group.get_params(ctx)
        if param.param_type_name == "option"
        for opt in param.opts
        if opt not in help_names
    }
    # Find the command: the first token that is neither a global option nor a global option's value.
    i = 0
    while i < len(args) and args[i] != "--":
        name = args[i].split("=", 1)[0]
        if name in takes_value:
            i += 2 if takes_value[name] and "=" not in args[i] else 1
            continue
        break
    if i >= len(args) or args[i] == "--" or args[i] not in group.commands:
        return args
    command = group.commands[args[i]]
    own = {opt for param in command.params if param.param_type_name == "option" for opt in param.opts}
    moved: list[str] = []
    rest: list[str] = []
    j = i + 1
    while j < len(args):
        token = args[j]
        if token == "--":
            rest += args[j:]
            break
        name = token.split("=", 1)[0]
        if name in takes_value and name not in own:
            if takes_value[name] and "=" not in token and j + 1 < len(args):
                moved += [token, args[j + 1]]
                j += 2
                continue
            moved.append(token)
        else:
            rest.append(token)
        j += 1
    return [*args[:i], *moved, args[i], *rest]


app = typer.Typer(
    cls=_Group,
    help="Scones Unlimited harness: run the SageMaker image-classification workflow locally, "
    "under docker compose, or on AWS, through the same code paths.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def _print_error(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def _main(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Option(help=f"Where to run: {' | '.join(TARGETS)} (env HARNESS_TARGET, default local)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Settings file (default ./harness.toml when present).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile (target aws).")] = None,
    bucket: Annotated[str | None, typer.Option(help="S3 bucket for data, models and captures.")] = None,
    data_prefix: Annotated[str | None, typer.Option(help="Key prefix of the staged data.")] = None,
    capture_prefix: Annotated[str | None, typer.Option(help="Key prefix of the data capture.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Confidence threshold of the filter.")] = None,
    training_instance_type: Annotated[str | None, typer.Option(help="Training instance type.")] = None,
    inference_instance_type: Annotated[str | None, typer.Option(help="Endpoint instance type.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    home: Annotated[Path | None, typer.Option(help="Folder for the harness's state and logs.")] = None,
) -> None:
    try:
        ctx.obj = load_settings(
            config_file=config,
            target=target,
            region=region,
            profile=profile,
            bucket=bucket,
            data_prefix=data_prefix,
            capture_prefix=capture_prefix,
            threshold=threshold,
            training_instance_type=training_instance_type,
            inference_instance_type=inference_instance_type,
            epochs=epochs,
            home=home,
        )
        if ctx.obj.target not in TARGETS:
            raise SettingsError(f"target must be one of {', '.join(TARGETS)}, got {ctx.obj.target!r}")
    except SettingsError as exc:
        _print_error(str(exc))
        raise typer.Exit(code=1) from exc


@app.command()
def config(ctx: typer.Context) -> None:
    """Print the resolved settings (defaults < harness.toml < HARNESS_* env < flags) as TOML.

    The output is a valid ``harness.toml``: ``harness config > harness.toml`` pins today's settings.
    """
    print(to_toml(settings_of(ctx)), end="")
