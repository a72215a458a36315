"""The whole workflow on the embedded target, cold: `harness run` on the real mini CIFAR-100 tarball.

Starts from nothing (a fresh harness home on free ports: LocalStack and the emulator start, the data
is staged, the model trained with the default hyperparameters, the endpoint deployed), then runs one
execution per test image (200) and the report. Prints each phase's wall time, execution latency
percentiles (one at a time on the warm stack, and under the run's own concurrency) and the summary,
then one line of JSON.

The event path and the pipeline (issue 16) on the same warm stack: each test image is copied under the
incoming prefix, one at a time, and the time until its result object appears (S3 -> EventBridge -> the
state machine -> writeResult) is measured; then the pipeline state machine retrains and redeploys with
the same hyperparameters, timed beside the Python path's train + endpoint phases.

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

from harness import events, executions, pipeline, workflow  # noqa: E402
from harness.config import load_settings  # noqa: E402
from harness.embedded import stack  # noqa: E402
from harness.embedded.process import free_ports  # noqa: E402
from harness.targets.registry import target_for  # noqa: E402
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
    parser.add_argument("--event-photos", type=int, default=200, help="photos sent through the event path")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline state machine run")
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
            result = run(
                target_for(settings), options, log=lambda m: console.print(f"  {m}", highlight=False)
            )
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
            event_ms = event_path_latencies(settings, keys[: args.event_photos], console)
            pipeline_s = None if args.no_pipeline else pipeline_seconds(settings, console)
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
    python_path_s = result.phases_s.get("train", 0.0) + result.phases_s.get("endpoint", 0.0)
    ev50, ev95 = _percentile(event_ms, 50), _percentile(event_ms, 95)
    print(
        f"event path, upload to result ({len(event_ms)} photos, one at a time): "
        f"p50 {ev50:.0f} ms, p95 {ev95:.0f} ms"
    )
    if pipeline_s is not None:
        print(
            f"train + deploy: pipeline state machine {pipeline_s:.1f} s, Python path {python_path_s:.1f} s "
            f"(ratio {pipeline_s / python_path_s:.2f})"
        )
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
        "event_photos": len(event_ms),
        "event_upload_to_result_p50_ms": round(ev50, 1),
        "event_upload_to_result_p95_ms": round(ev95, 1),
        "pipeline_train_deploy_s": None if pipeline_s is None else round(pipeline_s, 2),
        "python_train_deploy_s": round(python_path_s, 2),
        "pipeline_vs_python": None if pipeline_s is None else round(pipeline_s / python_path_s, 3),
    }
    print(json.dumps(figures))
    return 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def event_path_latencies(settings: object, keys: list[str], console: Console) -> list[float]:
    """Copy each test image under the incoming prefix; milliseconds until its result object exists."""
    target = target_for(settings)
    s3 = target.client("s3")
    bucket = settings.bucket  # type: ignore[attr-defined]
    latencies: list[float] = []
    for key in keys:
        photo = f"{events.incoming_key_prefix(settings)}bench/{key.rsplit('/', 1)[-1]}"  # type: ignore[arg-type]
        result_key = f"{events.results_key_prefix(settings)}{photo}.json"  # type: ignore[arg-type]
        start = time.perf_counter()
        s3.copy_object(Bucket=bucket, Key=photo, CopySource={"Bucket": bucket, "Key": key})
        while True:
            try:
                s3.head_object(Bucket=bucket, Key=result_key)
                break
            except s3.exceptions.ClientError:
                if time.perf_counter() - start > 60:
                    raise RuntimeError(f"no result for {photo} after 60 s") from None
                time.sleep(0.01)
        latencies.append((time.perf_counter() - start) * 1000)
    console.print(f"  event path: {len(latencies)} photos classified through EventBridge", highlight=False)
    return latencies


def pipeline_seconds(settings: object, console: Console) -> float:
    """Retrain and redeploy through the pipeline state machine; wall seconds of its execution."""
    target = target_for(settings)
    role = workflow.sagemaker_role(target)  # type: ignore[arg-type]
    arn, _ = pipeline.deploy_pipeline(settings, target, role, log=lambda _m: None)  # type: ignore[arg-type]
    data = pipeline.pipeline_input(settings, role, 1000, pipeline.pipeline_job_name())  # type: ignore[arg-type]
    run_ = pipeline.run_pipeline(target.client("stepfunctions"), arn, data, log=lambda _m: None)
    console.print(
        f"  pipeline: {run_.output['TrainingJobName']} deployed in {run_.duration_s:.1f} s", highlight=False
    )
    return run_.duration_s


if __name__ == "__main__":
    sys.exit(main())
