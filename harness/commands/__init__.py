"""CLI command modules. Each module registers its commands on :data:`harness.cli.app` when imported."""

from harness.commands import stage  # noqa: F401
from harness.commands import report  # noqa: F401
from harness.commands import stack  # noqa: F401
from harness.commands import workflow  # noqa: F401
