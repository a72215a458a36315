"""What isolates one execution environment from the host and from the others, decided once per process.

AWS gives every execution environment its code read-only at ``/var/task``, the runtime at
``/var/runtime``, layers at ``/opt``, its own writable ``/tmp`` of ``EphemeralStorage`` MB, a read-only
rest of the file system, its own processes only, and an unprivileged user (``sbx_user1051``). Here, in
``namespace`` mode, :mod:`.lambda_bootstrap` builds exactly that view with mount, PID and (when not root)
user namespaces, in the runtime's own interpreter before it imports awslambdaric.

The mode is decided ONCE, before the first environment starts (:func:`isolation`, under a lock): every
environment of a run gets the same isolation. ``LAMBDA_TMP_ISOLATION`` chooses: ``namespace`` (the
default: the best the OS allows) or ``dir``. When the OS refuses namespaces (no unprivileged user
namespaces, not Linux, a container without the rights) the fallback is ``dir``: each environment gets a
folder of its own as ``TMPDIR`` and the host's paths; :func:`isolation_report` (used by ``harness
doctor``) and the first line of each cold start's log say which guarantees are then missing.

Memory: the runtime's peak resident set (``VmHWM``) is read while it runs and after each invocation;
over ``MemorySize`` the process is killed (``Runtime.OutOfMemory``, as AWS reports it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MODE_ENV = "LAMBDA_TMP_ISOLATION"
MODES = ("namespace", "dir")
GUARANTEES = (
    "a private /tmp of EphemeralStorage MB",
    "code at /var/task, the runtime at /var/runtime, layers at /opt",
    "a read-only file system outside /tmp",
    "its own PID namespace and /proc",
    "an unprivileged user without capabilities (uid 993)",
)
TASK_ROOT, RUNTIME_DIR, LANG_DIR = "/var/task", "/var/runtime", "/var/lang"
_BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
BOOTSTRAP_SOURCE = _BOOTSTRAP.read_text()


@dataclass(frozen=True)
class Isolation:
    """The isolation every execution environment of this process gets, and why."""

    mode: str  # "namespace" | "dir"
    missing: tuple[str, ...]  # GUARANTEES not given
    reason: str  # why this mode

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "missing": list(self.missing), "reason": self.reason}


_decided: Isolation | None = None
_lock = threading.Lock()


def isolation() -> Isolation:
    """The isolation of this process's environments: probed once, under a lock, then the same for all."""
    global _decided
    with _lock:
        if _decided is None:
            _decided = _decide()
        return _decided


def isolation_report() -> dict[str, object]:
    """``{"mode": ..., "missing": [...], "reason": ...}``: for ``harness doctor`` and the logs."""
    return isolation().as_dict()


def namespaces_available() -> bool:
    """Whether environments get AWS's file-system view (``namespace`` mode)."""
    return isolation().mode == "namespace"


def _decide() -> Isolation:
    wanted = os.environ.get(MODE_ENV, "").strip().lower() or "namespace"
    if wanted not in MODES:
        raise ValueError(f"{MODE_ENV}={wanted!r} is not one of {', '.join(MODES)}")
    if wanted == "dir":
        return Isolation("dir", GUARANTEES, f"{MODE_ENV}=dir")
    if not sys.platform.startswith("linux"):
        return Isolation("dir", GUARANTEES, f"namespaces need Linux, this is {sys.platform}")
    failure = _probe()
    if failure:
        return Isolation("dir", GUARANTEES, f"the OS refused the namespaces: {failure}")
    return Isolation("namespace", (), "mount, PID and user namespaces allowed")


_PROBE_CHECK = (
    "import os, sys\n"
    "assert os.getpid() == 1 and os.getuid() == 993, 'pid/uid'\n"
    "assert os.listdir('/var/task') == ['probe'], 'task root'\n"
    "open('/tmp/x', 'w').close()\n"
    "sys.exit(0)\n"
)


def probe_command(python: str, check: str, task_root: Path, size_mb: int = 1) -> list[str]:
    """The sandbox on ``task_root`` running ``check`` (Python source) instead of awslambdaric."""
    settings = {"isolate": True, "mb": size_mb, "binds": [[TASK_ROOT, str(task_root)]], "layers": []}
    source = BOOTSTRAP_SOURCE.replace("    _limits()\n", "    exec(PROBE)\n", 1)
    source = source.replace("\ndef main():", f"\nPROBE = {check!r}\n\ndef main():", 1)
    return [python, "-I", "-c", source, json.dumps(settings), "probe.handler"]


def _probe() -> str | None:
    """Run the real sandbox once on a throw-away task root; ``None`` when it works, else the error."""
    folder = Path(tempfile.mkdtemp(prefix="lambda-probe-"))
    try:
        folder.chmod(0o755)  # mkdtemp makes it 0700: the sandbox user (uid 993) must read it
        (folder / "probe").write_text("")
        cmd = probe_command(sys.executable, _PROBE_CHECK, folder)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


@dataclass(frozen=True)
class Layout:
    """Where a runtime interpreter's pieces are on the host, and what they are called in the sandbox."""

    base: str  # the interpreter's prefix (bound at /var/lang)
    site_packages: str  # the runtime's packages (bound at /var/runtime)
    version: str  # "3.11"

    @property
    def python(self) -> str:
        return f"{LANG_DIR}/bin/python{self.version}"


def layout(python: str) -> Layout:
    """From the runtime venv's ``pyvenv.cfg`` (no interpreter start: this is on every cold start)."""
    exe = Path(python)
    cfg = exe.parent.parent / "pyvenv.cfg"
    values: dict[str, str] = {}
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    full = values.get("version_info") or values.get("version")
    if "home" in values and full:
        version = ".".join(full.split(".")[:2])
        base = str(Path(values["home"]).parent)
        site = exe.parent.parent / "lib" / f"python{version}" / "site-packages"
        return Layout(base, str(site), version)
    real = exe.resolve()
    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    version = real.name.removeprefix("python") if real.name.count(".") == 1 else own
    base = str(real.parent.parent)
    return Layout(base, f"{base}/lib/python{version}/site-packages", version)


def sandboxed_command(
    python: str, handler: str, size_mb: int, task_root: Path, layers: Sequence[Path]
) -> tuple[list[str], Layout]:
    """The command that starts ``handler`` in AWS's view (see :mod:`.lambda_bootstrap`)."""
    where = layout(python)
    settings = {
        "isolate": True,
        "mb": int(size_mb),
        "binds": [[TASK_ROOT, str(task_root)], [RUNTIME_DIR, where.site_packages], [LANG_DIR, where.base]],
        "layers": [str(p) for p in layers],
        "cwd": TASK_ROOT,
        "front": [
            TASK_ROOT,
            f"/opt/python/lib/python{where.version}/site-packages",
            "/opt/python",
            RUNTIME_DIR,
        ],
        "base": where.base,
        "site": where.site_packages,
        "python": where.python,
    }
    return [python, "-u", "-c", BOOTSTRAP_SOURCE, json.dumps(settings), handler], where


def plain_command(python: str, handler: str) -> list[str]:
    """The command of ``dir`` mode: the same bootstrap (limits, exec wrapper), no namespaces."""
    settings = {"isolate": False, "python": python}
    return [python, "-u", "-c", BOOTSTRAP_SOURCE, json.dumps(settings), handler]


def worker_pid(pid: int) -> int:
    """The process that runs the handler: in ``namespace`` mode the child of ``pid`` (PID 1 inside)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if children else pid


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
