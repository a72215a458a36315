"""How a Lambda container's exit is read: the kernel's OOM kill must be ``Runtime.OutOfMemory``
even where the engine loses docker's ``OOMKilled`` flag (seen on the CI machine: cgroup v2 hosts
and nested engines can drop the OOM event or deliver it after the exit event)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from localstack_plugin.container_environment import ContainerProcess


class _ExitedContainer:
    """What docker-py's ``Container`` exposes once the container has exited."""

    def __init__(self, exit_code: int, oom_killed: bool) -> None:
        self.id = "c0ffee"
        self.status = "exited"
        self.attrs: dict[str, Any] = {"State": {"ExitCode": exit_code, "OOMKilled": oom_killed}}

    def reload(self) -> None:
        pass


@pytest.mark.parametrize(
    ("exit_code", "flag", "oom"),
    [
        (137, True, True),  # the engine saw the OOM event
        (137, False, True),  # it lost it: SIGKILL of PID 1 can only be the OOM killer
        (1, False, False),  # an ordinary crash is Runtime.ExitError
        (0, False, False),
    ],
)
def test_exit_status_says_whether_the_kernel_killed_it_for_memory(
    exit_code: int, flag: bool, oom: bool
) -> None:
    left, right = socket.socketpair()
    right.close()  # the attach stream ends at once, as it does when the container exits
    process = ContainerProcess(client=None, container=_ExitedContainer(exit_code, flag), socket=left)
    assert process.poll() == exit_code
    assert process.oom_killed is oom
    left.close()
