"""What isolates one execution environment from the host and from the others: /tmp, task root, memory.

On AWS every execution environment has its own ``/tmp`` (``EphemeralStorage`` MB, 512 by default), a
read-only task root, and is killed when it uses more than ``MemorySize`` MB. Here:

* **/tmp** - as root on Linux the runtime process is started in a mount namespace of its own
  (``unshare(CLONE_NEWNS)``) with a size-limited tmpfs on ``/tmp``, so a handler writing ``/tmp/x``
  writes neither the host's file nor another environment's, and a full ``/tmp`` fails with
  ``ENOSPC`` as on AWS. The task root and layers are bind-mounted read-only, at their own paths (which
  may lie under the host's ``/tmp``). The runtime's interpreter sets the namespace up itself with
  direct system calls before it imports awslambdaric (:data:`BOOTSTRAP`): spawning ``unshare``/``mount``
  binaries cost 50-90 ms per cold start on a loaded 2-core machine, a ``preexec_fn`` in LocalStack's
  process about 100 ms (it forces a full fork), the system calls well under a millisecond. Where that
  is not allowed (not
  root, not Linux), each environment gets a directory of its own as ``TMPDIR``: ``tempfile`` users are
  separated, but a literal ``/tmp/x`` is the host's and the size is not enforced (docs/parity.md).
* **memory** - the runtime's peak resident set (``VmHWM``) is read while it runs and after each
  invocation; over ``MemorySize`` the process is killed and the invocation fails with
  ``Runtime.OutOfMemory``, as AWS reports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_available: bool | None = None

# Enters a mount namespace and mounts a tmpfs on /tmp there (invisible to everyone else), then exits:
# root alone is not enough (a container without CAP_SYS_ADMIN refuses unshare or mount).
_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
ok = libc.unshare(0x20000) == 0 and libc.mount(b"none", b"/", None, 0x44000, None) == 0
ok = ok and libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0x6, b"size=1m") == 0
sys.exit(0 if ok else 1)
"""


def namespaces_available() -> bool:
    """Whether a private /tmp can be mounted here: Linux, root, and unshare + mount allowed (probed once)."""
    global _available
    if os.environ.get("LAMBDA_TMP_ISOLATION") == "dir":
        return False
    if _available is None:
        _available = False
        if sys.platform.startswith("linux") and os.geteuid() == 0:
            try:
                probe = subprocess.run([sys.executable, "-I", "-c", _PROBE], capture_output=True, timeout=30)
                _available = probe.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _available = False
    return _available


SANDBOX_ENV = "_LOCAL_LAMBDA_SANDBOX"

# Run by the runtime's own interpreter (3.9-3.13) as ``python -c BOOTSTRAP <handler>``: enter a mount
# namespace of its own, mount the private /tmp, bind the code read-only, then run awslambdaric in the
# same interpreter. Doing this in the child keeps the parent's spawn a plain vfork+exec: a
# ``preexec_fn`` forces a full fork() of LocalStack's ~300 MB process, about 100 ms on a loaded
# 2-core machine against 1.5 ms. Standard library only; the variable carrying the settings is removed
# before the handler is imported.
BOOTSTRAP = """
import os, sys
def _sandbox():
    import ctypes, json
    cfg = json.loads(os.environ.pop("_LOCAL_LAMBDA_SANDBOX"))
    flags = cfg["flags"]
    libc = ctypes.CDLL(None, use_errno=True)
    def check(result, what):
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, "local Lambda sandbox: " + what + ": " + os.strerror(errno))
    check(libc.unshare(flags["newns"]), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, flags["private"], None), "make / private")
    fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY) for path in cfg["ro"]]
    options = ("size=" + str(cfg["mb"]) + "m,mode=1777").encode()
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", flags["tmpfs"], options), "mount tmpfs on /tmp")
    for path, fd in zip(cfg["ro"], fds):
        os.makedirs(path, exist_ok=True)
        source = ("/proc/self/fd/" + str(fd)).encode()
        check(libc.mount(source, path.encode(), None, flags["bind"], None), "bind " + path)
        check(libc.mount(None, path.encode(), None, flags["ro"], None), "make " + path + " read-only")
        os.close(fd)
    os.chdir(cfg["cwd"])
_sandbox()
del _sandbox
import runpy
sys.argv = ["awslambdaric", sys.argv[1]]
runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
"""
_FLAGS = {
    "newns": CLONE_NEWNS,
    "private": MS_REC | MS_PRIVATE,
    "tmpfs": MS_NOSUID | MS_NODEV,
    "bind": MS_BIND | MS_REC,
    "ro": MS_BIND | MS_REMOUNT | MS_RDONLY,
}


def sandboxed_command(
    python: str, handler: str, size_mb: int, read_only: Sequence[Path], cwd: Path
) -> tuple[list[str], dict[str, str]]:
    """The command and the extra environment that start ``handler`` in a private /tmp of ``size_mb``."""
    settings = {"mb": int(size_mb), "ro": [str(p) for p in read_only], "cwd": str(cwd), "flags": _FLAGS}
    return [python, "-c", BOOTSTRAP, handler], {SANDBOX_ENV: json.dumps(settings)}


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (``VmHWM``) in MB, ``None`` when it cannot be read."""
    if not isinstance(pid, int) or pid <= 0:
        return None  # psutil.Process(None) would be this very process
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:  # psutil missing or the process gone: nothing to measure
        return None
