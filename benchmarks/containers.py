"""The container target, measured: image builds (cold and cached), compose up to healthy, the workflow's
phases on the compose target, and training and serving latency in containers against the local target.

Needs a Docker engine (DOCKER_HOST) and root where the offline base must be debootstrapped. Steps:
1. ``harness compose up`` (``--cold`` first removes the project's images, ``--cold-base`` the base too):
   base, build, up and healthy times;
2. ``harness compose down`` + ``up`` again: the cached build and a warm start;
3. the workflow on the compose target (``--epochs``, project image) and ``--invocations`` InvokeEndpoint
   calls one at a time;
4. the same workflow and calls on the local (embedded) target, on free ports;
then ratios container / local. Rows first, the last line one JSON of figures.

    python benchmarks/containers.py [--cold] [--cold-base] [--epochs 2] [--invocations 50]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.config import load_settings  # noqa: E402
from harness.containers import engine, offline, stack  # noqa: E402
from harness.embedded import stack as embedded  # noqa: E402
from harness.embedded.process import free_ports  # noqa: E402
from harness.targets.registry import target_for  # noqa: E402
from harness.workflow import RunOptions, run  # noqa: E402

DATASET = ROOT.parent / "shared" / "data" / "cifar-100-mini.tar.gz"
IMAGES = (
    "scones-training:latest",
    "scones-lambda-python3.11:latest",
    "scones-sagemaker-emulator:latest",
    "scones-localstack:4.9.2-pypi",
    "scones-localstack:4.9.2",
)


def _log(message: str) -> None:
    print(f"  {message}", file=sys.stderr)


def _invoke_p50(settings, n: int) -> float:  # type: ignore[no-untyped-def]
    target = target_for(settings)
    s3, runtime = target.client("s3"), target.client("sagemaker-runtime")
    key = next(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=settings.bucket, Prefix=f"{settings.data_prefix}test/")["Contents"]
        if o["Key"].endswith(".png")
    )
    body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        runtime.invoke_endpoint(EndpointName=settings.endpoint_name, ContentType="image/png", Body=body)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="remove the project's images first")
    parser.add_argument("--cold-base", action="store_true", help="also remove the offline base image")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--executions", type=int, default=50)
    parser.add_argument("--invocations", type=int, default=50)
    parser.add_argument("--dataset", default=str(DATASET))
    args = parser.parse_args()
    client = engine.client()
    if args.cold or args.cold_base:
        for tag in IMAGES + ((offline.BASE_TAG,) if args.cold_base else ()):
            with contextlib.suppress(Exception):  # not built yet
                client.images.remove(tag, force=True)
    rows: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-containers-") as home:
        ls_port, sm_port = free_ports(2)
        settings = load_settings(environ={}).replace(
            target="localstack",
            home=Path(home) / "compose",
            localstack_port=ls_port,
            sagemaker_port=sm_port,
            epochs=args.epochs,
            algorithm="image",
            training_image="scones-training:latest",
        )
        options = RunOptions(dataset=args.dataset, executions=args.executions, report_dir=None)
        try:
            first = stack.up(settings, _log, timeout=600)
            rows.update(base_s=first.base_s, build_first_s=first.build_s)
            stack.down(settings, _log)
            second = stack.up(settings, _log, timeout=600)
            rows.update(build_cached_s=second.build_s, up_s=second.up_s, healthy_s=second.healthy_s)
            start = time.perf_counter()
            compose_run = run(target_for(settings), options, log=_log)
            rows["compose_workflow_s"] = time.perf_counter() - start
            rows["compose_invoke_p50_ms"] = _invoke_p50(settings, args.invocations)
            print(f"compose: {json.dumps({'rows': rows, 'phases_s': compose_run.phases_s})}", file=sys.stderr)
        finally:
            stack.down(settings, _log)
        left = stack.leftovers(stack.project_name(settings))

        ls_port, sm_port = free_ports(2)
        # The local target runs the same trainer and server as local processes (built-in image map).
        local = load_settings(environ={}).replace(
            target="local",
            home=Path(home) / "local",
            localstack_port=ls_port,
            sagemaker_port=sm_port,
            epochs=args.epochs,
        )
        try:
            start = time.perf_counter()
            local_run = run(target_for(local), options, log=_log)
            rows["local_workflow_s"] = time.perf_counter() - start
            rows["local_invoke_p50_ms"] = _invoke_p50(local, args.invocations)
        finally:
            embedded.down(local)

    print(f"{'step':<28}{'seconds / ms':>14}")
    for name, value in rows.items():
        print(f"{name:<28}{'reused' if value is None else f'{value:.2f}':>14}")
    print(f"{'phase':<12}{'compose s':>12}{'local s':>10}")
    for phase in compose_run.phases_s:
        print(f"{phase:<12}{compose_run.phases_s[phase]:>12.2f}{local_run.phases_s.get(phase, 0.0):>10.2f}")
    ratios = {
        "train_compose_vs_local": compose_run.phases_s["train"] / local_run.phases_s["train"],
        "endpoint_compose_vs_local": compose_run.phases_s["endpoint"] / local_run.phases_s["endpoint"],
        "executions_compose_vs_local": compose_run.phases_s["executions"] / local_run.phases_s["executions"],
        "invoke_p50_compose_vs_local": rows["compose_invoke_p50_ms"] / rows["local_invoke_p50_ms"],  # type: ignore[operator]
    }
    for name, value in ratios.items():
        print(f"{name:<32}{value:>8.2f}")
    print(f"leftovers after `harness compose down`: {left or 'none'}")
    figures = {
        "machine": f"{platform.machine()} {platform.system()} python{platform.python_version()}",
        "cold": args.cold,
        "cold_base": args.cold_base,
        "epochs": args.epochs,
        **{k: (None if v is None else round(v, 2)) for k, v in rows.items()},
        "compose_phases_s": compose_run.phases_s,
        "local_phases_s": local_run.phases_s,
        "compose_summary": {
            k: compose_run.summary.get(k) for k in ("executions", "succeeded", "failed_by_error")
        },
        **{k: round(v, 3) for k, v in ratios.items()},
        "leftovers": left,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
