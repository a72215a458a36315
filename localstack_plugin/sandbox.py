"""What isolates one execution environment from the host and from the others: /tmp, task root, memory.

On AWS every execution environment has its own ``/tmp`` (``EphemeralStorage`` MB, 512 by default), a
read-only task root, and is killed when it uses more than ``MemorySize`` MB. Here:

* **/tmp** - as root on Linux the runtime process is started in a mount namespace of its own
  (``unshare(CLONE_NEWNS)``) with a size-limited tmpfs on ``/tmp``, so a handler writing ``/tmp/x``
  writes neither the host's file nor another environment's, and a full ``/tmp`` fails with
  ``ENOSPC`` as on AWS. The task root and layers are bind-mounted read-only, at their own paths (which
  may lie under the host's ``/tmp``). The namespace is set up with direct system calls between fork
  and exec (``preexec_fn``): spawning ``unshare``/``mount`` binaries cost 50-90 ms per cold start on a
  loaded 2-core machine, the system calls well under a millisecond. Where that is not allowed (not
  root, not Linux), each environment gets a directory of its own as ``TMPDIR``: ``tempfile`` users are
  separated, but a literal ``/tmp/x`` is the host's and the size is not enforced (docs/parity.md).
* **memory** - the runtime's peak resident set (``VmHWM``) is read while it runs and after each
  invocation; over ``MemorySize`` the process is killed and the invocation fails with
  ``Runtime.OutOfMemory``, as AWS reports it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc: ctypes.CDLL | None = None


def namespaces_available() -> bool:
    """Whether a private /tmp can be mounted here: Linux, root, and ``unshare`` allowed."""
    if (
        not sys.platform.startswith("linux")
        or os.geteuid() != 0
        or os.environ.get("LAMBDA_TMP_ISOLATION") == "dir"
    ):
        return False
    return _load_libc() is not None


def _load_libc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            return None
    return _libc


def private_tmp(size_mb: int, read_only: Sequence[Path]) -> Callable[[], None]:
    """A ``preexec_fn`` giving the child its own ``/tmp`` of ``size_mb`` and read-only ``read_only`` paths.

    Runs in the forked child before exec: only system calls and ``os`` functions, no imports, no logging
    (the parent is multi-threaded). Any failure raises, so ``Popen`` fails instead of running unisolated.
    """
    libc = _load_libc()
    assert libc is not None
    options = f"size={int(size_mb)}m,mode=1777".encode()
    paths = [str(p).encode() for p in read_only]

    def check(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def setup() -> None:
        check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        fds = [os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in paths]  # before /tmp is covered
        check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount tmpfs on /tmp")
        for path, fd in zip(paths, fds, strict=True):
            os.makedirs(path, exist_ok=True)
            source = b"/proc/self/fd/%d" % fd
            check(libc.mount(source, path, None, MS_BIND | MS_REC, None), "bind the task root")
            check(libc.mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None), "make it read-only")
            os.close(fd)

    return setup


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (``VmHWM``) in MB, ``None`` when it cannot be read."""
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
