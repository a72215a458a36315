"""Target ``local``: the embedded cloud, LocalStack and the SageMaker emulator as processes this harness
starts (:mod:`harness.embedded.stack`), brought up on demand, checked by pid and health URL, stopped by PID.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from harness.checks import OK, WARN, Check
from harness.embedded import stack
from harness.targets.base import Capabilities, Log, Target, TargetError
from localstack_plugin import sandbox
from sagemaker_emulator.orphans import stop_recorded_children

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
        checks.append(self._isolation_check())
        return checks

    def dead_dependency(self) -> str | None:
        """Every embedded service that exited, with its pid and log; a dead emulator's orphans (training
        jobs, model servers it started) are stopped by the PIDs its state recorded."""
        problems = []
        for st in stack.status(self.settings):
            if st.running:
                continue
            log = stack.service_dir(self.settings, st.name) / f"{st.name}.log"
            name = {"localstack": "LocalStack", "sagemaker": "the SageMaker emulator"}.get(st.name, st.name)
            problem = (
                f"{name} (pid {st.pid}) exited: see {log}"
                if st.pid
                else f"{name} is not running (harness up)"
            )
            if st.name == "sagemaker":
                orphans = stop_recorded_children(stack.emulator_state_dir(self.settings))
                if orphans:
                    problem += f"; stopped the {len(orphans)} job/model-server process(es) it left running"
            problems.append(problem)
        return "; ".join(problems) or None

    def _isolation_check(self) -> Check:
        """Which isolation the functions get (the same probe LocalStack's executor runs), and why."""
        wanted = self.settings.lambda_tmp_isolation
        got = sandbox.isolation_for(wanted)
        if got.mode == "namespace":
            return Check(
                "lambda isolation",
                OK,
                f"namespace ({got.reason}): code at /var/task, a private /tmp, a read-only file system, "
                "its own PID namespace, an unprivileged uid",
            )
        why = "lambda_tmp_isolation = 'dir'" if wanted == "dir" else got.reason
        hint = (
            "set lambda_tmp_isolation = 'namespace' (HARNESS_LAMBDA_TMP_ISOLATION)"
            if wanted == "dir"
            else "allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1, or AppArmor's "
            "kernel.apparmor_restrict_unprivileged_userns=0), or run the harness as root"
        )
        return Check("lambda isolation", WARN, f"dir ({why}); missing: {'; '.join(got.missing)}", hint)

    def tear_down(self, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False) -> None:
        for name, outcome in stack.down(self.settings, reset=reset):
            log(f"{name}: {outcome}")
