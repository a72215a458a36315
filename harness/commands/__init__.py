"""CLI command modules. Each module registers its commands on :data:`harness.cli.app` when imported."""

from harness.commands import (
    compose,  # noqa: F401
    doctor,  # noqa: F401
    env,  # noqa: F401
    faults,  # noqa: F401
    notebook,  # noqa: F401
    report,  # noqa: F401
    sfn_test,  # noqa: F401
    stack,  # noqa: F401
    stage,  # noqa: F401
    workflow,  # noqa: F401
)
