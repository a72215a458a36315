"""The sandbox wherever things live (issue 20) and for whoever runs it (root and a non-root user).

Issue 20: with the cache folder under /tmp (``XDG_CACHE_HOME=/tmp/...``) the private /tmp hid the runtime's
virtualenv and every execution failed with ``No module named awslambdaric``; a checkout under /tmp broke
the unit tests the same way. AWS's view (docs: "Lambda execution environment"; a function is the
unprivileged ``sbx_user1051`` on a read-only file system except /tmp) must hold for a non-root harness user
too, through unprivileged user namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import localstack_plugin
from localstack_plugin import sandbox

ROOT = Path(localstack_plugin.__file__).parent.parent
SITE = Path(sandbox.layout(sys.executable).site_packages)
# What awslambdaric 4.x needs (its own package, its C extension, simplejson, snapshot-restore-py).
NAMESPACES_HERE = sandbox.namespaces_available()
RUNTIME_FILES = ("awslambdaric", "runtime_client.*", "simplejson", "snapshot_restore_py.py")

INVOKE_ONCE = """
import json, sys, time, uuid
from pathlib import Path
from localstack_plugin import sandbox
from localstack_plugin.environment import ExecutionProcess, FunctionSpec
from localstack_plugin.runtime_api import Invocation
assert sandbox.__file__.startswith(sys.argv[3]), sandbox.__file__
spec = FunctionSpec(python=sys.argv[1], handler="app.handler", task_root=Path(sys.argv[2]), env={},
                    timeout_s=10)
process = ExecutionProcess(spec)
process.start()
try:
    outcome = process.invoke(Invocation(str(uuid.uuid4()), b"{}", "arn:aws:lambda:us-east-1:0:function:f",
                                        int(time.time() * 1000) + 10000))
finally:
    process.stop()
print(json.dumps({"payload": outcome.payload.decode(), "error": outcome.is_error, "logs": outcome.logs,
                  "mode": sandbox.isolation().mode}))
"""


@pytest.mark.parametrize("user", ["self", "nobody"])
def test_runtime_venv_checkout_and_code_all_under_tmp(user: str) -> None:
    """The runtime's venv (the cache folder), the checkout and the code all under the host's /tmp, run by
    this test's user (root in CI) and by an unprivileged one (the harness run as a normal user)."""
    drop, python = [], sys.executable
    if user == "nobody":
        found = _unprivileged_python() if os.geteuid() == 0 else None
        if found is None:
            pytest.skip("needs root to switch users, setpriv, and a Python the user nobody may run")
        drop, python = found
        version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        if version != sandbox.layout(sys.executable).version:
            pytest.skip(f"nobody's Python is {version}: awslambdaric's C extension here is for another")
        unshare = [
            shutil.which("unshare") or "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
        ]
        if subprocess.run([*drop, *unshare, "true"], capture_output=True, timeout=30).returncode != 0:
            pytest.skip("the OS refuses unprivileged user namespaces (the fallback is tested elsewhere)")
    base = Path(tempfile.mkdtemp(prefix="sandbox-paths-", dir="/tmp"))
    try:
        base.chmod(0o755)
        venv = base / "cache" / "lambda-runtimes" / "python3.11-test"
        subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        target = venv / "lib" / f"python{sandbox.layout(sys.executable).version}" / "site-packages"
        for pattern in RUNTIME_FILES:
            for found in SITE.glob(pattern):
                copy = shutil.copytree if found.is_dir() else shutil.copy2
                copy(found, target / found.name)
        checkout = base / "checkout"
        shutil.copytree(ROOT / "localstack_plugin", checkout / "localstack_plugin")
        code = base / "code"
        code.mkdir(mode=0o755)
        (code / "app.py").write_text(
            "import os\ndef handler(event, context):\n"
            "    return {'task': sorted(os.listdir('.')), 'cwd': os.getcwd(), 'uid': os.getuid()}\n"
        )
        subprocess.run(["chmod", "-R", "a+rX", str(base)], check=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(checkout)}
        result = subprocess.run(
            [*drop, python, "-c", INVOKE_ONCE, str(venv / "bin" / "python"), str(code), str(checkout)],
            capture_output=True, text=True, timeout=120, env=env, cwd=base,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout.splitlines()[-1])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert not answer["error"], answer["logs"]
    body = json.loads(answer["payload"])
    assert body["task"] == ["app.py"]
    if user == "nobody" or NAMESPACES_HERE:
        assert answer["mode"] == "namespace", answer["logs"]
        assert (body["cwd"], body["uid"]) == ("/var/task", 993)


NON_ROOT_CHECK = r"""
import ctypes, os, sys
assert os.getpid() == 1, "own PID namespace"
assert os.getuid() == 993, os.getuid()
assert [p for p in os.listdir("/proc") if p.isdigit()] == ["1"], "only its own processes"
assert os.listdir("/var/task") == ["probe"], os.listdir("/var/task")
assert os.listdir("/tmp") == [], "a private, empty /tmp"
open("/tmp/mine", "w").close()
for path in ("/etc/x", "/var/task/x", "/usr/x"):
    try:
        open(path, "w")
        raise AssertionError("wrote " + path)
    except OSError as exc:
        assert exc.errno == 30, (path, exc)
libc = ctypes.CDLL(None, use_errno=True)
assert libc.umount2(b"/tmp", 2) != 0 and ctypes.get_errno() == 1, "cannot unmount /tmp"
assert libc.mount(b"none", b"/", None, 0x20 | 0x1000, None) != 0, "cannot remount"
for path in ("/root", "/etc/shadow"):
    try:
        os.listdir(path) if os.path.isdir(path) else open(path).read()
        raise AssertionError("read " + path)
    except PermissionError:
        pass
print("sandbox ok")
sys.exit(0)
"""


def _unprivileged_python() -> tuple[list[str], str] | None:
    """``setpriv`` to uid/gid 65534 (nobody) and a Python that user can run, or ``None``."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    for python in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        ok = subprocess.run([*drop, python, "-c", "pass"], capture_output=True, timeout=30)
        if ok.returncode == 0:
            return drop, python
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root (CI runs as root)")
def test_a_non_root_user_gets_the_same_sandbox() -> None:
    found = _unprivileged_python()
    if found is None:
        pytest.skip("no setpriv, or no Python the user nobody may run")
    drop, python = found
    code = Path(tempfile.mkdtemp(prefix="sandbox-nonroot-", dir="/tmp"))
    try:
        code.chmod(0o755)
        (code / "probe").write_text("")
        result = subprocess.run(
            [*drop, python, *sandbox.probe_command(python, NON_ROOT_CHECK, code)[1:]],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        shutil.rmtree(code, ignore_errors=True)
    refused = "Operation not permitted" in result.stderr and "unshare" in result.stderr
    if refused:
        pytest.skip(f"the OS refuses unprivileged user namespaces: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0 and "sandbox ok" in result.stdout, result.stderr
