"""The whole workflow on the embedded target, cold: `harness run` on the real mini CIFAR-100 tarball.

Starts from nothing (a fresh harness home on free ports: LocalStack and the emulator start, the data
is staged, the model trained with the default hyperparameters, the endpoint deployed), then runs one
execution per test image (200) and the report. Prints each phase's wall time, execution latency
percentiles (one at a time on the warm stack, and under the run's own concurrency) and the summary,
then one line of JSON.

Targets on a 2-core machine: whole run <= 240 s (the cloud needs 20+ minutes), execution p50 <= 150 ms
(real AWS: 2.1-2.8 s).

    python benchmarks/workflow.py [--executions N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from harness import executions  # noqa: E402
from harness.config import load_settings  # noqa: E402
from harness.embedded import stack  # noqa: E402
from harness.embedded.process import free_ports  # noqa: E402
from harness.targets import target_for  # noqa: E402
from harness.workflow import RunOptions, run  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "cifar-100-mini.tar.gz"
TARGET_TOTAL_S = 240.0
TARGET_P50_MS = 150.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=None, help="default: every test image (200)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serial", type=int, default=50, help="executions timed one at a time afterwards")
    parser.add_argument("--dataset", default=str(DATASET))
    args = parser.parse_args()
    if not Path(args.dataset).is_file():
        print(f"dataset not found: {args.dataset}", file=sys.stderr)
        return 2

    console = Console(stderr=True)
    ls_port, sm_port = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as home:
        settings = load_settings(environ={}).replace(
            target="local", home=Path(home), localstack_port=ls_port, sagemaker_port=sm_port
        )
        options = RunOptions(
            dataset=args.dataset,
            executions=args.executions,
            concurrency=args.concurrency,
            report_dir=Path(home) / "report",
        )
        start = time.perf_counter()
        try:
            result = run(settings, options, log=lambda m: console.print(f"  {m}", highlight=False))
            wall = time.perf_counter() - start
            # Latency without queueing: the same executions one at a time on the warm stack.
            target = target_for(settings)
            keys = executions.list_test_images(target.client("s3"), settings.bucket, settings.data_prefix)
            serial = executions.summarise(
                executions.run_executions(
                    target.client("stepfunctions"),
                    result.state_machine_arn,
                    settings.bucket,
                    keys[: args.serial],
                    concurrency=1,
                ),
                {},
            )
        finally:
            stack.down(settings)

    s = result.summary
    print(f"{'phase':<12}{'seconds':>10}")
    for phase, seconds in result.phases_s.items():
        print(f"{phase:<12}{seconds:>10.2f}")
    print(f"{'total':<12}{wall:>10.2f}   (target <= {TARGET_TOTAL_S:.0f} s)")
    print(f"executions {s['executions']}: succeeded {s['succeeded']}, failed {s['failed_by_error']}")
    p50, p95 = serial["latency_ms_p50"], serial["latency_ms_p95"]
    print(
        f"execution latency, one at a time ({serial['executions']}): p50 {p50:.0f} ms "
        f"(target <= {TARGET_P50_MS:.0f}), p95 {p95:.0f} ms"
    )
    print(
        f"execution latency, {args.concurrency} in flight: p50 {s['latency_ms_p50']:.0f} ms, "
        f"p95 {s['latency_ms_p95']:.0f} ms; executions phase {result.phases_s['executions']:.1f} s "
        f"({s['executions'] / result.phases_s['executions']:.1f} executions/s)"
    )
    print(f"accuracy of passed {s['accuracy_of_passed']:.3f}, of all captured {s.get('capture_accuracy')}")
    figures = {
        "machine": f"{platform.machine()} {platform.system()} python{platform.python_version()}",
        "phases_s": result.phases_s,
        "total_s": round(wall, 2),
        "executions": s["executions"],
        "succeeded": s["succeeded"],
        "failed_by_error": s["failed_by_error"],
        "execution_p50_ms": round(p50, 1),
        "execution_p95_ms": round(p95, 1),
        "concurrency": args.concurrency,
        "loaded_execution_p50_ms": round(s["latency_ms_p50"], 1),
        "loaded_execution_p95_ms": round(s["latency_ms_p95"], 1),
        "accuracy_of_passed": s["accuracy_of_passed"],
        "capture_accuracy": s.get("capture_accuracy"),
        "total_vs_target": round(wall / TARGET_TOTAL_S, 3),
        "p50_vs_target": round(p50 / TARGET_P50_MS, 3),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
