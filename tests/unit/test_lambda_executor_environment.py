"""The executor's execution environment, run for real: awslambdaric in a child process, no LocalStack.

These cover what the plugin adds around the runtime (timeouts, crashes, init errors, log framing);
the LocalStack side is covered by tests/e2e.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest

from localstack_plugin import sandbox
from localstack_plugin.environment import ExecutionProcess, FunctionSpec
from localstack_plugin.runtime_api import Invocation

HANDLER = """
import os, time

print("initialising")
CALLS = 0
BOOT = os.urandom(8).hex()  # one per process: in a PID namespace every runtime is PID 1

class Broken(Exception):
    pass

def handler(event, context):
    global CALLS
    CALLS += 1
    print("event", event["action"])
    if event["action"] == "fail":
        raise Broken("it broke")
    if event["action"] == "sleep":
        time.sleep(5)
    if event["action"] == "exit":
        os._exit(7)
    return {"calls": CALLS, "pid": BOOT, "flavour": os.environ["FLAVOUR"], "fn": context.function_name}
"""


def _process(tmp_path: Path, source: str = HANDLER, timeout_s: float = 0.5) -> ExecutionProcess:
    tmp_path.chmod(0o755)  # pytest makes it 0700; the sandbox's user (uid 993) reads code, as on AWS
    (tmp_path / "app.py").write_text(source)
    env = {
        "FLAVOUR": "cheese",
        "AWS_LAMBDA_FUNCTION_NAME": "scones",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    }
    spec = FunctionSpec(
        python=sys.executable, handler="app.handler", task_root=tmp_path, env=env, timeout_s=timeout_s
    )
    return ExecutionProcess(spec)


def _invoke(process: ExecutionProcess, action: str) -> tuple[dict, bool, str, str]:
    request_id = str(uuid.uuid4())
    outcome = process.invoke(
        Invocation(
            request_id=request_id,
            payload=json.dumps({"action": action}).encode(),
            function_arn="arn:aws:lambda:us-east-1:000000000000:function:scones",
            deadline_ms=int(time.time() * 1000) + 500,
        )
    )
    return json.loads(outcome.payload), outcome.is_error, outcome.logs, request_id


@pytest.fixture
def process(tmp_path: Path):
    proc = _process(tmp_path)
    proc.start()
    yield proc
    proc.stop()


def test_warm_invocations_reuse_the_process_and_frame_logs(process: ExecutionProcess) -> None:
    first, error, logs, request_id = _invoke(process, "ok")
    second, _, second_logs, second_id = _invoke(process, "ok")

    assert not error and first["flavour"] == "cheese" and first["fn"] == "scones"
    assert (second["calls"], second["pid"]) == (2, first["pid"])
    assert logs.index("initialising") < logs.index(f"START RequestId: {request_id}")
    assert "Init Duration:" in logs and "Init Duration:" not in second_logs
    assert second_logs.splitlines()[:3] == [
        f"START RequestId: {second_id} Version: $LATEST",
        "event ok",
        f"END RequestId: {second_id}",
    ]
    assert second_logs.splitlines()[3].startswith(f"REPORT RequestId: {second_id}\tDuration: ")


def test_handler_exception_is_an_unhandled_error_with_its_class(process: ExecutionProcess) -> None:
    body, error, logs, request_id = _invoke(process, "fail")

    assert error
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == ("Broken", "it broke", request_id)
    assert any('raise Broken("it broke")' in line for line in body["stackTrace"])
    # As on Lambda: the code's frames read /var/task/..., never this machine's folder.
    assert body["stackTrace"][-1].startswith('  File "/var/task/app.py", line '), body["stackTrace"]
    assert not any(str(process.spec.task_root) in line for line in body["stackTrace"])
    assert "[ERROR] Broken: it broke" in logs
    assert _invoke(process, "ok")[0]["calls"] == 2, "an exception does not restart the environment"


def test_timeout_kills_and_reinitialises(process: ExecutionProcess) -> None:
    pid = _invoke(process, "ok")[0]["pid"]
    started = time.monotonic()
    body, error, logs, request_id = _invoke(process, "sleep")
    elapsed = time.monotonic() - started

    assert error and body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == f"RequestId: {request_id} Error: Task timed out after 0.50 seconds"
    assert f"{request_id} Task timed out after 0.50 seconds" in logs and "Status: timeout" in logs
    assert elapsed < 3
    after = _invoke(process, "ok")[0]
    assert after["calls"] == 1 and after["pid"] != pid


def test_runtime_exit_fails_the_invocation_and_restarts(process: ExecutionProcess) -> None:
    body, error, _, request_id = _invoke(process, "exit")

    assert error and body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 7",
    }
    assert _invoke(process, "ok")[0]["calls"] == 1


def test_import_error_is_reported_on_invoke(tmp_path: Path) -> None:
    process = _process(tmp_path, source="import no_such_module_for_scones\n")
    process.start()
    try:
        body, error, _, _ = _invoke(process, "ok")
    finally:
        process.stop()

    assert error and body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'no_such_module_for_scones'" in body["errorMessage"]


ISOLATION = """
import os
BOOT = os.urandom(8).hex()

def handler(event, context):
    if event["action"] == "fill":
        try:
            with open("/tmp/big", "wb") as f:
                f.write(b"x" * (3 * 1024 * 1024))
            return {"full": False}
        except OSError as exc:
            return {"full": True, "errno": exc.errno}
    if event["action"] == "hog":
        blocks = [bytearray(1024 * 1024) for _ in range(200)]
        return {"mb": len(blocks)}
    return {"tmp": sorted(os.listdir("/tmp")), "pid": BOOT}
"""


def _isolated(tmp_path: Path, **spec_changes: object) -> ExecutionProcess:
    tmp_path.chmod(0o755)
    (tmp_path / "app.py").write_text(ISOLATION)
    spec = FunctionSpec(
        python=sys.executable,
        handler="app.handler",
        task_root=tmp_path,
        env={"AWS_LAMBDA_FUNCTION_NAME": "scones"},
        timeout_s=10,
        **spec_changes,  # type: ignore[arg-type]
    )
    return ExecutionProcess(spec)


@pytest.mark.skipif(
    not sandbox.namespaces_available(), reason=f"no private /tmp here: {sandbox.isolation().reason}"
)
def test_private_tmp_is_size_limited_with_enospc(tmp_path: Path) -> None:
    process = _isolated(tmp_path, ephemeral_mb=1)
    process.start()
    try:
        body = _invoke(process, "fill")[0]
        listing = _invoke(process, "list")[0]
    finally:
        process.stop()
    assert body == {"full": True, "errno": 28}  # ENOSPC, as a full /tmp on AWS
    assert "big" in listing["tmp"] and not (Path("/tmp") / "big").exists()


def test_memory_size_is_enforced_with_out_of_memory(tmp_path: Path) -> None:
    process = _isolated(tmp_path, memory_mb=128)
    process.start()
    try:
        pid = _invoke(process, "list")[0]["pid"]
        body, error, logs, request_id = _invoke(process, "hog")
        after = _invoke(process, "list")[0]
    finally:
        process.stop()
    assert error and body == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }
    assert "Error Type: Runtime.OutOfMemory" in logs and "Max Memory Used: 128 MB" in logs
    assert after["pid"] != pid, "the killed environment is replaced by a fresh one"


def test_fallback_warning_is_in_every_invocation_log(tmp_path: Path) -> None:
    process = _isolated(tmp_path, warning="runtime python3.13 is running on Python 3.11.2")
    process.start()
    try:
        logs = [_invoke(process, "list")[2] for _ in range(2)]
    finally:
        process.stop()
    assert all("WARNING runtime python3.13 is running on Python 3.11.2" in text for text in logs)


def test_layers_are_importable_after_the_code_and_the_task_root_is_read_only(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    code, layer = tmp_path / "code", tmp_path / "layer" / "python"
    code.mkdir()
    layer.mkdir(parents=True)
    (layer / "scones_layer.py").write_text("FLAVOUR = 'from the layer'\n")
    (layer / "shadowed.py").write_text("WHERE = 'layer'\n")
    (code / "shadowed.py").write_text("WHERE = 'code'\n")
    (code / "app.py").write_text(
        "import os, scones_layer, shadowed\n"
        "def handler(event, context):\n"
        "    try:\n"
        "        open('written-by-handler', 'w').close()\n"
        "        writable = True\n"
        "    except OSError:\n"
        "        writable = False\n"
        "    return {'layer': scones_layer.FLAVOUR, 'shadowed': shadowed.WHERE, 'cwd': os.getcwd(),\n"
        "            'writable': writable}\n"
    )
    spec = FunctionSpec(
        python=sys.executable,
        handler="app.handler",
        task_root=code,
        env={},
        timeout_s=10,
        extra_paths=[layer],
        layer_dirs=[layer.parent],
        tmp_dir=None if sandbox.namespaces_available() else tmp_path / "tmp",
    )
    process = ExecutionProcess(spec)
    process.start()
    try:
        body = _invoke(process, "ok")[0]
    finally:
        process.stop()
    assert body["layer"] == "from the layer" and body["shadowed"] == "code"
    # AWS: the working directory is the task root, /var/task (docs: "Defined runtime environment variables")
    assert body["cwd"] == ("/var/task" if sandbox.namespaces_available() else str(code))
    if sandbox.namespaces_available():
        assert body["writable"] is False and not (code / "written-by-handler").exists()


def test_output_of_a_runtime_whose_pipe_is_past_fd_setsize_is_read() -> None:
    """With a few hundred executions in flight LocalStack holds over 1024 descriptors; select() refuses
    those, which once killed the reader, closed the runtime's stdout ("exit status 1" at its next print)
    and left a stale descriptor number that a later read blocked on."""
    import os
    import resource
    import subprocess

    from localstack_plugin.environment import _Output

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit on open files is {hard}: cannot hold a descriptor past 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    padding = []
    try:
        while not padding or padding[-1] < 1030:
            padding.append(os.open(os.devnull, os.O_RDONLY))
        script = "import time; print('before', flush=True); time.sleep(0.3); print('after')"
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.fileno() > 1024
        output = _Output()
        output.attach(proc.stdout)
        assert proc.wait(10) == 0, "the runtime's stdout must stay open while it runs"
        deadline = time.monotonic() + 5
        text = ""
        while "after" not in text and time.monotonic() < deadline:
            text += output.take()
            time.sleep(0.05)
        assert text.split() == ["before", "after"]
    finally:
        for fd in padding:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
