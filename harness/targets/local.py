"""Target ``local``: the embedded cloud, LocalStack and the SageMaker emulator as processes this harness
starts (:mod:`harness.embedded.stack`), brought up on demand, checked by pid and health URL, stopped by PID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from harness.checks import OK, WARN, Check
from harness.embedded import stack
from harness.targets.base import Capabilities, Log, Target, TargetError

if TYPE_CHECKING:
    from rich.console import Console


class LocalTarget(Target):
    """The embedded cloud on 127.0.0.1: the emulator's fault API and Step Functions mocks are there."""

    name: ClassVar[str] = "local"
    capabilities: ClassVar[Capabilities] = Capabilities(fault_api=True, sfn_mocks=True)
    owns_cloud: ClassVar[bool] = True
    unreachable_hint: ClassVar[str] = "is the embedded cloud up? run 'harness up'"

    def bring_up(self, console: Console | None = None) -> None:
        for service in stack.up(self.settings, console=console):
            if not service.healthy:
                raise TargetError(f"embedded {service.name} is not healthy: {service.note or service.url}")

    def checks(self, create_role: bool = False) -> list[Check]:
        """Is each service this harness home started up and healthy?"""
        checks: list[Check] = []
        for st in stack.status(self.settings):
            if st.healthy:
                checks.append(Check(st.name, OK, f"healthy at {st.url} (pid {st.pid})"))
            else:
                state = "running but not healthy" if st.running else "not running"
                checks.append(
                    Check(
                        st.name,
                        WARN,
                        f"{state} at {st.url} {st.note}".strip(),
                        "harness up (harness run starts it too)",
                    )
                )
        return checks

    def tear_down(self, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False) -> None:
        for name, outcome in stack.down(self.settings, reset=reset):
            log(f"{name}: {outcome}")
