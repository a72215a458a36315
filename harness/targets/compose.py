"""Target ``localstack``: LocalStack and the emulator in containers (``harness compose up``).

The harness does not own this cloud: bring-up only checks that it answers and can train (the built-in
image is AWS-only), teardown deletes the run's resources and leaves the containers to
``harness compose down``. Functions reach the services by their compose names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from harness.checks import FAIL, OK, Check
from harness.config import Settings
from harness.embedded.process import is_healthy
from harness.targets.base import Capabilities, Log, Target, TargetError, host_urls
from harness.teardown import teardown

if TYPE_CHECKING:
    from rich.console import Console

# Under docker compose the functions run in containers on the compose network and reach LocalStack by its
# compose name (see docker-compose.yml).
FUNCTION_MAIN_URL = "http://localstack:4566"
TRAINABLE_HINT = "set algorithm = 'image', training_image = 'scones-training:latest' (built by compose)"


class LocalStackTarget(Target):
    """The compose cloud on the host's ports; the emulator's fault API answers there too."""

    name: ClassVar[str] = "localstack"
    capabilities: ClassVar[Capabilities] = Capabilities(fault_api=True, containers=True)
    unreachable_hint: ClassVar[str] = "is the compose stack up? run 'harness compose up'"

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        return cls(settings=settings, **host_urls(settings), function_main_url=FUNCTION_MAIN_URL)

    def bring_up(self, console: Console | None = None) -> None:
        settings = self.settings
        if settings.algorithm == "builtin" or not settings.training_image:
            raise TargetError(
                "target localstack runs training in containers, which cannot pull AWS's built-in image: "
                "set algorithm = 'image', training_image = 'scones-training:latest' "
                "(built by `harness compose up`)"
            )
        try:
            self.client("s3").list_buckets()
        except Exception as exc:
            raise TargetError(
                f"LocalStack is not reachable at {self.main_url}: start it with `harness compose up`"
            ) from exc

    def checks(self, create_role: bool = False) -> list[Check]:
        return compose_checks(self)

    def tear_down(self, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False) -> None:
        self._no_reset(reset)
        teardown(self, delete_data, log=log)
        log("the containers keep running: `harness compose down` removes them")


def compose_checks(target: Target, probe: Callable[[str], bool] = is_healthy) -> list[Check]:
    """Do both services answer, and can the compose cloud train?"""
    checks: list[Check] = []
    for name, url, health in (
        ("localstack", target.main_url, "/_localstack/health"),
        ("sagemaker-emulator", target.sagemaker_url, "/_emulator/health"),
    ):
        if probe(f"{url}{health}"):
            checks.append(Check(name, OK, f"healthy at {url}"))
        else:
            checks.append(Check(name, FAIL, f"no answer at {url}{health}", "harness compose up"))
    settings = target.settings
    if settings.algorithm == "builtin" or not settings.training_image:
        checks.append(
            Check(
                "training image",
                FAIL,
                "the built-in image-classification image is AWS-only: compose cannot pull or run it",
                TRAINABLE_HINT,
            )
        )
    return checks
