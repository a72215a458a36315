"""How fast is the embedded cloud? ``python benchmarks/embedded_cloud.py [--invokes N] [--executions N]``

Starts its own stack (free ports, temporary home; the LocalStack venv must already be built: run
``harness up`` once), then measures:
- ``harness up`` to ready: the real CLI as a user runs it, cold (no stack running), median of 3,
  and ``stack.up()`` in-process (the same minus the CLI's own import time);
- warm invoke p50/p95 of a trivial Python function through LocalStack's Lambda API;
- p50 of a Standard state machine of 3 ``lambda:invoke`` tasks (client-side: start to SUCCEEDED seen),
  in its JSONPath form, in its JSONata form (jsonata-python in the plugin; target: within 1.5x of
  JSONPath) and with every task mocked through SFN_MOCK_CONFIG (no Lambda call at all);
- cold start per Python runtime found here (python3.9-3.13): the ``Init Duration`` Lambda reports
  (spawn the runtime's Python in its own mount namespace, import ``awslambdaric`` and the handler) and
  the client-side time of that first invoke, median of ``--cold`` fresh environments each (a
  configuration update retires the warm one); the runtime environment is built before timing;
- ratios against the figures before per-runtime environments (warm p50 12 ms, cold start 35-50 ms):
  targets warm <= 1.5x, cold <= 2x;
- RSS of the whole stack after that work (LocalStack, its Lambda runtimes, the SageMaker emulator).
Readable rows first, then one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import botocore.config
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import sfn_mocks
from harness.config import Settings, load_settings
from harness.embedded import stack
from harness.embedded.process import ServiceRecord, free_ports, group_members
from harness.targets.registry import target_for
from tests.support.lambda_zip import ROLE_ARN, deploy

ECHO = """
def handler(event, context):
    return {"value": event.get("value", 0) + 1}
"""


def _cli(settings: Settings, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(
        HARNESS_HOME=str(settings.home),
        HARNESS_LOCALSTACK_PORT=str(settings.localstack_port),
        HARNESS_SAGEMAKER_PORT=str(settings.sagemaker_port),
        HARNESS_CACHE_DIR=str(settings.cache_dir),
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from harness.main import main; main()", *args],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _stack_rss_mb(settings: Settings) -> dict[str, float]:
    sizes = {}
    for name in ("localstack", "sagemaker"):
        record = ServiceRecord.read(stack.pid_path(settings, name))
        if record is None:
            continue
        total = 0
        for pid in group_members(record):
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        sizes[name] = total / 2**20
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=200)
    parser.add_argument("--executions", type=int, default=20)
    parser.add_argument("--cold", type=int, default=5, help="cold starts per runtime")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-embedded-cloud-") as tmp:
        ls_port, sm_port = free_ports(2)
        settings = load_settings().replace(
            target="local", home=Path(tmp), localstack_port=ls_port, sagemaker_port=sm_port
        )
        stack.up(settings)  # builds nothing new when the venv is cached; warms the OS file cache
        stack.down(settings)
        ups, downs, in_process = [], [], []
        for _ in range(3):
            ups.append(_cli(settings, "up"))
            downs.append(_cli(settings, "down"))
            started = time.perf_counter()
            stack.up(settings)
            in_process.append(time.perf_counter() - started)
            stack.down(settings)
        print(f"harness up to ready (CLI, cold stack): median {statistics.median(ups):.2f} s  runs {ups}")
        print(f"stack.up() in-process (no CLI import): median {statistics.median(in_process):.2f} s")
        print(f"harness down:                          median {statistics.median(downs):.2f} s")

        _cli(settings, "up")
        try:
            figures = _measure(settings, args.invokes, args.executions)
            figures.update(_cold_starts(settings, args.cold))
            figures.update(_cold_start_same_load())
            rss = _stack_rss_mb(settings)
        finally:
            _cli(settings, "down")

    figures.update(
        {
            "up_ready_s": round(statistics.median(ups), 2),
            "stack_up_in_process_s": round(statistics.median(in_process), 2),
            "down_s": round(statistics.median(downs), 2),
            "rss_mb": {k: round(v) for k, v in rss.items()},
            "rss_total_mb": round(sum(rss.values())),
        }
    )
    print(f"RSS after the runs: {', '.join(f'{k} {v:.0f} MB' for k, v in rss.items())}")
    figures.update(_ratios(figures))
    print(json.dumps(figures))


def _measure(settings: Settings, invokes: int, executions: int) -> dict[str, object]:
    target = target_for(settings)
    lam = target.client("lambda", config=botocore.config.Config(retries={"max_attempts": 0}))
    sfn = target.client("stepfunctions")
    name = deploy(lam, ECHO, prefix="bench")
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]

    lam.invoke(FunctionName=name, Payload=b"{}")  # cold start
    times = []
    for _ in range(invokes):
        started = time.perf_counter()
        response = lam.invoke(FunctionName=name, Payload=b'{"value": 1}')
        response["Payload"].read()
        times.append((time.perf_counter() - started) * 1000)
    p50, p95 = statistics.median(times), _percentile(times, 95)
    print(f"warm invoke ({invokes}): p50 {p50:.1f} ms  p95 {p95:.1f} ms")

    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
    }
    chain_p50 = _chain_p50(sfn, f"{name}-chain", _chain(task), executions)
    print(f"3-task Lambda chain, JSONPath ({executions} executions): p50 {chain_p50:.1f} ms")
    jsonata_task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"FunctionName": arn, "Payload": "{% $states.input %}"},
        "Output": "{% $states.result.Payload %}",
    }
    jsonata = {"QueryLanguage": "JSONata", **_chain(jsonata_task)}
    jsonata_p50 = _chain_p50(sfn, f"{name}-jsonata", jsonata, executions)
    print(
        f"3-task Lambda chain, JSONata  ({executions} executions): p50 {jsonata_p50:.1f} ms "
        f"({jsonata_p50 / chain_p50:.2f}x JSONPath; target <= 1.5x)"
    )
    mocked = f"{name}-mocked"
    mock_file = settings.home / "bench-mocks.json"
    mock_file.write_text(json.dumps(_mocks(mocked)))
    sfn_mocks.install(settings, mock_file)
    mocked_p50 = _chain_p50(sfn, mocked, _chain(task), executions, case="Bench")
    print(f"3-task chain, every task mocked ({executions} executions): p50 {mocked_p50:.1f} ms")
    return {
        "warm_invoke_p50_ms": round(p50, 1),
        "warm_invoke_p95_ms": round(p95, 1),
        "chain3_p50_ms": round(chain_p50, 1),
        "chain3_jsonata_p50_ms": round(jsonata_p50, 1),
        "jsonata_over_jsonpath": round(jsonata_p50 / chain_p50, 2),
        "chain3_mocked_p50_ms": round(mocked_p50, 1),
    }


def _chain(task: dict[str, object]) -> dict[str, object]:
    states = {
        "One": {**task, "Next": "Two"},
        "Two": {**task, "Next": "Three"},
        "Three": {**task, "End": True},
    }
    return {"StartAt": "One", "States": states}


def _mocks(machine: str) -> dict[str, object]:
    """A MockConfigFile whose case 'Bench' mocks the three tasks to return what the real ones do."""
    case = {state: f"Value{i}" for i, state in enumerate(("One", "Two", "Three"), 1)}
    responses = {
        f"Value{i}": {"0": {"Return": {"StatusCode": 200, "Payload": {"value": i}}}} for i in (1, 2, 3)
    }
    return {"StateMachines": {machine: {"TestCases": {"Bench": case}}}, "MockedResponses": responses}


def _chain_p50(sfn: Any, name: str, definition: dict[str, object], executions: int, case: str = "") -> float:
    """p50 (ms) from StartExecution to SUCCEEDED seen, over ``executions`` runs after one warm-up."""
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    durations = []
    for i in range(executions + 1):
        started = time.perf_counter()
        target = f"{machine}#{case}" if case else machine
        execution_arn = sfn.start_execution(stateMachineArn=target, input='{"value": 0}')["executionArn"]
        while (execution := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            time.sleep(0.002)
        elapsed = (time.perf_counter() - started) * 1000
        assert execution["status"] == "SUCCEEDED" and json.loads(execution["output"]) == {"value": 3}, (
            execution
        )
        if i:  # the first one warms the state machine
            durations.append(elapsed)
    return statistics.median(durations)


# Before per-runtime environments (docs/benchmarks.md, 2026-11-26): warm p50 12.2 ms, cold 35-50 ms.
BASE_WARM_MS = 12.2
BASE_COLD_MS = 50.0
INIT = re.compile(r"Init Duration: ([0-9.]+) ms")


def _cold_starts(settings: Settings, runs: int) -> dict[str, object]:
    from localstack_plugin import runtimes

    lam = target_for(settings).client("lambda", config=botocore.config.Config(retries={"max_attempts": 0}))
    per_runtime: dict[str, dict[str, float]] = {}
    for runtime in runtimes.SUPPORTED:
        try:
            runtimes.find_interpreter(runtime)
        except runtimes.RuntimeNotAvailable as exc:
            print(f"cold start {runtime}: skipped ({exc})")
            continue
        name = deploy(lam, ECHO, prefix=f"cold-{runtime.replace('.', '')}", runtime=runtime)  # builds once
        inits, clients = [], []
        for i in range(runs):
            lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"RUN": str(i)}})
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
            started = time.perf_counter()
            response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
            response["Payload"].read()
            clients.append((time.perf_counter() - started) * 1000)
            match = INIT.search(base64.b64decode(response["LogResult"]).decode())
            assert match, "a fresh environment's first REPORT line has an Init Duration"
            inits.append(float(match.group(1)))
        row = {
            "init_ms": round(statistics.median(inits), 1),
            "first_invoke_ms": round(statistics.median(clients), 1),
        }
        per_runtime[runtime] = row
        print(
            f"cold start {runtime} ({runs} fresh environments): Init Duration p50 {row['init_ms']:.1f} ms, "
            f"first invoke p50 {row['first_invoke_ms']:.1f} ms"
        )
    worst = max((r["init_ms"] for r in per_runtime.values()), default=0.0)
    return {"cold_start": per_runtime, "cold_init_worst_ms": worst}


def _cold_start_same_load(runs: int = 10) -> dict[str, float]:
    """Cold start with and without this work's isolation, interleaved, so machine load cancels out.

    ``before``: the harness's own interpreter, no mount namespace (how every function ran before);
    ``after``: python3.11's runtime environment in its own mount namespace (as now). Both spawn an
    :class:`ExecutionProcess` and wait until awslambdaric has imported a trivial handler.
    """
    from localstack_plugin import runtimes, sandbox
    from localstack_plugin.environment import ExecutionProcess, FunctionSpec

    env = runtimes.ensure_runtime_env(runtimes.find_interpreter("python3.11"), runtimes_cache())
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # the sandbox's user (uid 993) reads the code, as on AWS
        (root / "app.py").write_text(ECHO)
        isolated = sandbox.namespaces_available()
        variants = {
            "before": dict(python=sys.executable, tmp_dir=root / "tmp"),
            "after": dict(python=str(env.python), tmp_dir=None if isolated else root / "tmp"),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(runs):
            for label, extra in variants.items():
                spec = FunctionSpec(handler="app.handler", task_root=root, env={}, timeout_s=5, **extra)
                process = ExecutionProcess(spec)
                started = time.perf_counter()
                process.start()
                times[label].append((time.perf_counter() - started) * 1000)
                process.stop()
    before, after = (statistics.median(times[k]) for k in ("before", "after"))
    print(
        f"cold start, same load, interleaved ({runs} each): before {before:.1f} ms, after {after:.1f} ms, "
        f"ratio {after / before:.2f} (isolation {'mount namespace' if isolated else 'TMPDIR only'})"
    )
    return {
        "cold_before_ms": round(before, 1),
        "cold_after_ms": round(after, 1),
        "cold_same_load_ratio": round(after / before, 2),
    }


def runtimes_cache() -> Path:
    from harness.embedded import localstack

    return localstack.runtime_cache_dir(load_settings())


def _ratios(figures: dict[str, object]) -> dict[str, float]:
    warm = float(figures["warm_invoke_p50_ms"]) / BASE_WARM_MS  # type: ignore[arg-type]
    cold = float(figures.get("cold_init_worst_ms") or 0.0) / BASE_COLD_MS  # type: ignore[arg-type]
    print(
        f"warm p50 / {BASE_WARM_MS} ms = {warm:.2f} (target <= 1.5); "
        f"worst cold Init Duration / {BASE_COLD_MS} ms = {cold:.2f} (target <= 2)"
    )
    return {"warm_ratio": round(warm, 2), "cold_ratio": round(cold, 2)}


if __name__ == "__main__":
    main()
