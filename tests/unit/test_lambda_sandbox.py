"""AWS's execution environment as a handler sees it: paths, limits, variables, isolation, wrapper, exits.

Each test names the AWS source of the behaviour it asserts. "Recorded on AWS" means LocalStack's
AWS-validated snapshot files (tests/aws/services/lambda_/*.snapshot.json in localstack/localstack,
re-recorded against AWS in 2025-11), read through the search tool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack_plugin import sandbox
from localstack_plugin.container_environment import _runtime_command
from localstack_plugin.environment import ExecutionProcess, FunctionSpec
from localstack_plugin.runtime_api import Invocation

NAMESPACES = sandbox.namespaces_available()
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason=f"the OS refuses the sandbox's namespaces: {sandbox.isolation().reason}"
)

PROBE = """
import ctypes, json, os, resource, sys

def handler(event, context):
    action = event.get("action")
    if action == "exit0":
        sys.exit(0)
    if action == "fail":
        raise ValueError("first line\\nsecond line")
    if action == "write":
        with open("/tmp/" + event["name"], "w") as handle:
            handle.write(event["value"])
        return {"written": True}
    out = {
        "task": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"])),
        "cwd": os.getcwd(),
        "tmp": sorted(os.listdir("/tmp")),
        "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "env": dict(os.environ),
        "uid": os.getuid(),
        "procs": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "path": sys.path,
    }
    other = event.get("other", "/nonexistent")
    for name, path in (("root", "/root"), ("shadow", "/etc/shadow"), ("other", other)):
        try:
            os.listdir(path) if os.path.isdir(path) else open(path, "rb").read()
            out[name] = "read"
        except OSError as exc:
            out[name] = exc.errno
    for name, path in (("w_task", "/var/task/x"), ("w_etc", "/etc/x"), ("w_usr", "/usr/x")):
        try:
            open(path, "w").close()
            out[name] = "written"
        except OSError as exc:
            out[name] = exc.errno
    libc = ctypes.CDLL(None, use_errno=True)
    out["umount_tmp"] = ctypes.get_errno() if libc.umount2(b"/tmp", 2) != 0 else 0
    return out
"""


def _folder(base: Path | None = None) -> Path:
    folder = Path(tempfile.mkdtemp(dir=base))
    folder.chmod(0o755)  # the sandbox's user (uid 993) reads the code, as on AWS
    return folder


def _spec(task_root: Path, source: str = PROBE, **changes: object) -> FunctionSpec:
    (task_root / "app.py").write_text(source)
    fields: dict = {
        "python": sys.executable,
        "handler": "app.handler",
        "task_root": task_root,
        "env": {
            "AWS_LAMBDA_FUNCTION_NAME": "scones",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_REGION": "us-east-1",
            "LOCALSTACK_MAX_PAYLOAD_SIZE": "6291556",  # LocalStack's; AWS has no such variable
        },
        "timeout_s": 10,
    }
    fields.update(changes)
    return FunctionSpec(**fields)


def _invoke(process: ExecutionProcess, event: dict | None = None) -> tuple[dict, bool, str, str]:
    request_id = str(uuid.uuid4())
    outcome = process.invoke(
        Invocation(
            request_id=request_id,
            payload=json.dumps(event or {}).encode(),
            function_arn="arn:aws:lambda:us-east-1:000000000000:function:scones",
            deadline_ms=int(time.time() * 1000) + 10_000,
        )
    )
    return json.loads(outcome.payload), outcome.is_error, outcome.logs, request_id


@pytest.fixture
def started() -> Iterator[list[ExecutionProcess]]:
    processes: list[ExecutionProcess] = []
    yield processes
    for process in processes:
        process.stop()


def _start(started: list[ExecutionProcess], spec: FunctionSpec) -> ExecutionProcess:
    process = ExecutionProcess(spec)
    started.append(process)
    process.start()
    return process


@needs_namespaces
def test_code_runtime_and_layers_are_at_awss_paths(tmp_path: Path, started: list) -> None:
    # AWS: LAMBDA_TASK_ROOT=/var/task, LAMBDA_RUNTIME_DIR=/var/runtime, PYTHONPATH=/var/runtime, PWD=/var/task
    # (recorded on AWS: test_lambda_common.snapshot.json, test_introspection_invoke[python3.12]); layers
    # are extracted to /opt, /opt/python on the path (docs: "Packaging your layer content").
    code, layer = _folder(tmp_path), _folder(tmp_path)
    (code / "data.txt").write_text("x")
    (layer / "python").mkdir()
    (layer / "python" / "scones_layer.py").write_text("WHERE = 'opt'\n")
    source = PROBE.replace("import ctypes,", "import scones_layer, ctypes,")
    body = _invoke(_start(started, _spec(code, source, layer_dirs=[layer])))[0]
    assert body["task"] == ["app.py", "data.txt"] and body["cwd"] == "/var/task"
    assert body["path"][:4] == [
        "/var/task",
        "/opt/python/lib/python3.11/site-packages",
        "/opt/python",
        "/var/runtime",
    ]
    env = body["env"]
    assert (env["LAMBDA_TASK_ROOT"], env["LAMBDA_RUNTIME_DIR"]) == ("/var/task", "/var/runtime")
    assert (env["PYTHONPATH"], env["PWD"], env["SHLVL"]) == ("/var/runtime", "/var/task", "0")


def test_environment_has_awss_variables_only(tmp_path: Path, started: list, monkeypatch) -> None:
    # AWS's python runtime environment (recorded on AWS: test_lambda_common.snapshot.json,
    # test_introspection_invoke[python3.12]): no LocalStack or host variables.
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "from-the-host")
    env = _invoke(_start(started, _spec(_folder(tmp_path))))[0]["env"]
    expected = {
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_EXECUTION_ENV", "AWS_REGION", "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PATH", "PYTHONPATH", "PWD", "SHLVL", "LANG",
        "LC_CTYPE", "TZ",
    }  # fmt: skip
    if NAMESPACES:
        expected.add("LD_LIBRARY_PATH")
    else:
        expected.add("TMPDIR")  # the fallback's private folder: docs/parity.md
    assert set(env) == expected
    assert (env["TZ"], env["LANG"], env["LC_CTYPE"]) == (":UTC", "en_US.UTF-8", "C.UTF-8")


def test_open_files_limit_is_awss(tmp_path: Path, started: list) -> None:
    # AWS: RLIMIT_NOFILE (1024, 1024) (recorded on AWS: test_lambda.snapshot.json,
    # TestLambdaBehavior::test_runtime_ulimits).
    assert _invoke(_start(started, _spec(_folder(tmp_path))))[0]["nofile"] == [1024, 1024]


@needs_namespaces
def test_a_handler_cannot_reach_the_host_or_other_environments(tmp_path: Path, started: list) -> None:
    # AWS: a function runs as an unprivileged user (sbx_user1051) on a read-only file system except /tmp
    # (docs: "Lambda execution environment", "Configuring ephemeral storage"), sees its own processes only.
    marker = _folder() / "host-file"  # on the host's /tmp
    marker.write_text("host")
    try:
        other = _start(started, _spec(_folder(tmp_path)))
        _invoke(other, {"action": "write", "name": "secret", "value": "other's"})
        other_pid = other._worker
        body = _invoke(_start(started, _spec(_folder(tmp_path))), {"other": f"/proc/{other_pid}/environ"})[0]
    finally:
        shutil.rmtree(marker.parent)
    assert body["uid"] == 993 and body["procs"] == ["1"]
    assert body["tmp"] == [], "neither the host's /tmp nor another function's files are visible"
    assert body["other"] == 2, "another runtime's /proc/<pid>/environ does not exist here (ENOENT)"
    assert (body["root"], body["shadow"]) == (13, 13)  # EACCES
    assert (body["w_task"], body["w_etc"], body["w_usr"]) == (30, 30, 30)  # EROFS
    assert body["umount_tmp"] == 1  # EPERM: no capability left to undo the sandbox


@needs_namespaces
def test_two_functions_tmp_files_are_invisible_to_each_other(tmp_path: Path, started: list) -> None:
    # AWS: each execution environment has its own /tmp (docs: "Configuring ephemeral storage").
    first, second = (_start(started, _spec(_folder(tmp_path))) for _ in range(2))
    _invoke(first, {"action": "write", "name": "x", "value": "first"})
    assert _invoke(first)[0]["tmp"] == ["x"]
    assert _invoke(second)[0]["tmp"] == []


def test_exec_wrapper_runs_before_the_runtime(tmp_path: Path, started: list) -> None:
    # AWS: the runtime starts through AWS_LAMBDA_EXEC_WRAPPER; a variable it exports is seen by the handler
    # (recorded on AWS: test_lambda_common.snapshot.json, test_runtime_wrapper_invoke).
    code = _folder(tmp_path)
    wrapper = code / "wrapper"
    wrapper.write_text('#!/bin/sh\nexport WRAPPER_WAS_HERE=yes\nexec "$@"\n')
    wrapper.chmod(0o755)
    root = "/var/task" if NAMESPACES else str(code)
    spec = _spec(
        code, env={"AWS_LAMBDA_EXEC_WRAPPER": f"{root}/wrapper", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"}
    )
    body, error, _, _ = _invoke(_start(started, spec))
    assert not error and body["env"]["WRAPPER_WAS_HERE"] == "yes"


@pytest.mark.parametrize(("mode", "status"), [(None, 127), (0o644, 126)])
def test_exec_wrapper_missing_or_not_executable_is_an_exit_error(
    tmp_path: Path, started: list, mode: int | None, status: int
) -> None:
    # AWS: a missing wrapper is Runtime.ExitError "Runtime exited with error: exit status 127" (recorded on
    # AWS: test_lambda.snapshot.json, TestLambdaErrors::test_lambda_runtime_wrapper_not_found); a
    # non-executable one is the shell's 126 (AWS's bootstrap execs the wrapper from a shell script).
    code = _folder(tmp_path)
    if mode is not None:
        (code / "wrapper").write_text('#!/bin/sh\nexec "$@"\n')
        (code / "wrapper").chmod(mode)
    root = "/var/task" if NAMESPACES else str(code)
    spec = _spec(code, env={"AWS_LAMBDA_EXEC_WRAPPER": f"{root}/wrapper"})
    body, error, _, request_id = _invoke(_start(started, spec))
    assert error and body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {status}",
    }


@pytest.mark.parametrize("where", ["import", "handler"])
def test_sys_exit_0_is_an_exit_without_a_reason(tmp_path: Path, started: list, where: str) -> None:
    # AWS: sys.exit(0) at import or in the handler (recorded on AWS: test_lambda.snapshot.json,
    # TestLambdaErrors::test_lambda_runtime_exit and ::test_lambda_handler_exit).
    source = "import sys\nsys.exit(0)\n" if where == "import" else PROBE
    body, error, _, request_id = _invoke(
        _start(started, _spec(_folder(tmp_path), source)), {"action": "exit0"}
    )
    assert error and body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited without providing a reason",
    }


def test_cold_start_log_starts_with_init_start_and_errors_keep_their_lines(
    tmp_path: Path, started: list
) -> None:
    # AWS: a cold start's log begins "INIT_START Runtime Version: python:3.10.v11\tRuntime Version ARN: ...";
    # an error is one event "[ERROR] CustomException: ...\nTraceback (most recent call last):\n  File
    # \"/var/task/handler.py\"..." (recorded on AWS: test_lambda.snapshot.json, log_events).
    process = _start(started, _spec(_folder(tmp_path)))
    _, error, logs, _ = _invoke(process, {"action": "fail"})
    assert error and logs.startswith("INIT_START Runtime Version: python:3.11.")
    assert "\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:" in logs.splitlines()[0]
    assert "\r" not in logs and "[ERROR] ValueError: first line\nsecond line\nTraceback" in logs
    if NAMESPACES:
        assert 'File "/var/task/app.py"' in logs
    assert "INIT_START" not in _invoke(process, {"action": "fail"})[2], "warm: no INIT_START"


def test_isolation_is_decided_once_for_concurrent_first_environments(monkeypatch) -> None:
    """Issue 20: the cached answer was set before the probe finished, so concurrent first environments
    fell back to a TMPDIR while later ones got namespaces."""
    calls = []

    def slow_probe() -> None:
        calls.append(1)
        time.sleep(0.3)
        return None

    monkeypatch.setattr(sandbox, "_decided", None)
    monkeypatch.setattr(sandbox, "_probe", slow_probe)
    monkeypatch.delenv(sandbox.MODE_ENV, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(sandbox.isolation().mode)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and answers == ["namespace"] * 8


@pytest.mark.parametrize(("value", "mode"), [("dir", "dir"), ("DIR", "dir"), ("", "namespace")])
def test_isolation_setting(monkeypatch, value: str, mode: str) -> None:
    monkeypatch.setattr(sandbox, "_decided", None)
    monkeypatch.setattr(sandbox, "_probe", lambda: None)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv(sandbox.MODE_ENV, value)
    report = sandbox.isolation_report()
    assert report["mode"] == mode
    assert report["missing"] == ([] if mode == "namespace" else list(sandbox.GUARANTEES))


def test_refused_namespaces_fall_back_and_the_first_log_line_says_what_is_missing(
    tmp_path: Path, started: list, monkeypatch
) -> None:
    monkeypatch.setattr(sandbox, "_decided", None)
    monkeypatch.setattr(sandbox, "_probe", lambda: "unshare: Operation not permitted")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv(sandbox.MODE_ENV, raising=False)
    assert (
        sandbox.isolation_report()["reason"]
        == "the OS refused the namespaces: unshare: Operation not permitted"
    )
    body, _, logs, _ = _invoke(_start(started, _spec(_folder(tmp_path))))
    assert body["cwd"] != "/var/task" and "TMPDIR" in body["env"]
    warning = logs.splitlines()[1]
    assert "WARNING local sandbox (the OS refused the namespaces" in warning
    assert "missing a private /tmp of EphemeralStorage MB" in warning


def test_a_bad_isolation_setting_is_an_error_naming_it(monkeypatch) -> None:
    monkeypatch.setattr(sandbox, "_decided", None)
    monkeypatch.setenv(sandbox.MODE_ENV, "chroot")
    with pytest.raises(ValueError, match="LAMBDA_TMP_ISOLATION='chroot' is not one of namespace, dir"):
        sandbox.isolation()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="namespaces are Linux's")
def test_namespace_mode_wherever_the_os_allows_namespaces(monkeypatch) -> None:
    """A broken sandbox must not hide behind the fallback: where ``unshare`` works, the probe passes."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("no unshare binary to ask the OS with")
    flags = ["--mount", "--pid", "--fork"] + ([] if os.geteuid() == 0 else ["--user", "--map-root-user"])
    if subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("the OS refuses mount/PID namespaces here (the fallback is tested above)")
    monkeypatch.setattr(sandbox, "_decided", None)
    monkeypatch.delenv(sandbox.MODE_ENV, raising=False)
    assert sandbox.isolation_report() == {
        "mode": "namespace",
        "missing": [],
        "reason": "mount, PID and user namespaces allowed",
    }


@pytest.mark.parametrize(("wrapper", "status"), [("/nonexistent/wrapper", 127), ("not-executable", 126)])
def test_container_runtime_command_fails_as_awss_bootstrap(tmp_path: Path, wrapper: str, status: int) -> None:
    # The container executor's command, run here with /bin/sh: AWS's codes for a missing (127, recorded on
    # AWS: test_lambda.snapshot.json, test_lambda_runtime_wrapper_not_found) or non-executable wrapper.
    if wrapper == "not-executable":
        (tmp_path / wrapper).write_text("#!/bin/sh\n")
        wrapper = str(tmp_path / wrapper)
    env = {"AWS_LAMBDA_EXEC_WRAPPER": wrapper, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(_runtime_command("app.handler", env), env=env, capture_output=True, timeout=30)
    assert result.returncode == status


def test_container_runtime_command_runs_the_wrapper_with_the_runtime_command(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrapper"
    wrapper.write_text('#!/bin/sh\necho "$WRAPPED_BY:$*"\n')
    wrapper.chmod(0o755)
    assert _runtime_command("app.handler", {}) == ["python", "-m", "awslambdaric", "app.handler"]
    env = {"AWS_LAMBDA_EXEC_WRAPPER": str(wrapper), "WRAPPED_BY": "me", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(_runtime_command("app.handler", env), env=env, capture_output=True, text=True)
    assert result.stdout == "me:python -m awslambdaric app.handler\n"


@needs_namespaces
@pytest.mark.skipif(os.geteuid() != 0, reason="as a non-root user the sandbox user maps to the files' owner")
def test_code_not_readable_by_all_is_permission_denied_as_on_aws(tmp_path: Path, started: list) -> None:
    # AWS: "Lambda requires global read permissions on code files" (AWS knowledge center,
    # lambda-deployment-package-errors); a 0600 file fails with "[ERROR] PermissionError: [Errno 13]
    # Permission denied: '/var/task/...'" (an AWS log quoted in aws-samples/fedramp-integrated-inventory-
    # workbook issue 1).
    code = _folder(tmp_path)
    spec = _spec(code)
    (code / "app.py").chmod(0o600)
    body, error, _, _ = _invoke(_start(started, spec))
    assert error and body["errorType"] == "PermissionError"
    assert "Permission denied: '/var/task/app.py'" in body["errorMessage"]


@needs_namespaces
def test_several_layers_are_merged_at_opt_later_ones_winning(tmp_path: Path, started: list) -> None:
    # AWS: "Lambda extracts the layers in the order that you added them to the function ... files from a
    # later layer overwrite files with the same name" (docs: "Adding layers to functions"), under /opt.
    layers = [_folder(tmp_path) for _ in range(2)]
    for index, layer in enumerate(layers):
        (layer / "python").mkdir(mode=0o755)
        (layer / "python" / f"only_{index}.py").write_text("")
        (layer / "python" / "both.py").write_text(f"WHO = {index}\n")
    source = PROBE.replace("import ctypes,", "import both, only_0, only_1, ctypes,").replace(
        '"uid": os.getuid(),', '"uid": os.getuid(), "who": both.WHO,'
    )
    body = _invoke(_start(started, _spec(_folder(tmp_path), source, layer_dirs=layers)))[0]
    assert body["who"] == 1
