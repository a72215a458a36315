"""Model benchmark: accuracy, training time, serving latency and memory on the real CIFAR split.

Run from the repository root:  python benchmarks/model.py [--seeds 0,1,2] [--dataset PATH]

1. Stages ``../shared/data/cifar-100-mini.tar.gz`` (the real 1000 + 200 bicycle and
   motorcycle images) with ``harness stage --out``, into a temporary folder.
2. Trains ``python -m training.train`` once per seed in the SageMaker layout with
   the hyperparameters the workflow sends (num_classes, num_training_samples,
   image_shape) and everything else at its default. Records the best validation
   accuracy, the process wall time and the fit time the trainer logs, and the
   trainer's peak RSS (from wait4, the kernel's own accounting).
3. Serves the first seed's model with ``python -m training.serve`` (uvicorn) and
   measures: cold start to the first ``/ping`` 200, single-image latency over HTTP
   (one keep-alive client, one request at a time, every test PNG twice), the
   accuracy of the served answers, and the server's peak RSS (VmHWM).

Readable rows first, then one final line of JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness.embedded.process import free_port, stop_child

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "data" / "cifar-100-mini.tar.gz"
HYPERPARAMETERS = {"num_classes": "2", "num_training_samples": "1000", "image_shape": "3,32,32"}


def stage(dataset: Path, out: Path) -> None:
    harness = Path(sys.executable).parent / "harness"
    command = [str(harness)] if harness.exists() else [sys.executable, "-m", "harness"]
    subprocess.run([*command, "stage", "--dataset", str(dataset), "--out", str(out)], check=True, cwd=REPO)
    for name in ("train.lst", "test.lst"):
        if not (out / name).is_file():
            raise SystemExit(f"staging did not write {out / name}")


def job_layout(staged: Path, root: Path, extra: dict[str, str]) -> Path:
    """A SageMaker ``/opt/ml`` tree whose channels point at the staged data (the DESIGN channel mapping)."""
    data = root / "input" / "data"
    for channel, source in (("train", "train"), ("validation", "test")):
        (data / channel).parent.mkdir(parents=True, exist_ok=True)
        (data / channel).symlink_to(staged / source)
        (data / f"{channel}_lst").mkdir()
        (data / f"{channel}_lst" / f"{source}.lst").write_bytes((staged / f"{source}.lst").read_bytes())
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({**HYPERPARAMETERS, **extra}))
    (config / "inputdataconfig.json").write_text(
        json.dumps(
            {
                c: {"ContentType": "application/x-image"}
                for c in ("train", "validation", "train_lst", "validation_lst")
            }
        )
    )
    return root


def train(root: Path, seed: int) -> dict:
    env = {**os.environ, "OPT_ML": str(root), "TRAINING_SEED": str(seed), "PYTHONPATH": str(REPO)}
    log_path = root / "train.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "training.train"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    text = log_path.read_text()
    if process.returncode != 0:
        raise SystemExit(f"training failed (seed {seed}):\n{text[-3000:]}")
    info = json.loads((root / "model" / "model-info.json").read_text())
    fit = re.search(r"epochs in ([0-9.]+) s", text)
    final = re.findall(r"Validation-accuracy=([0-9.]+)", text)[-1]
    return {
        "seed": seed,
        "best_accuracy": info["validation_accuracy"],
        "best_epoch": info["best_epoch"],
        "last_epoch_accuracy": float(final),
        "wall_s": round(wall, 1),
        "fit_s": float(fit.group(1)) if fit else None,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def serve(model_root: Path, staged: Path) -> dict:
    port = free_port()
    env = {
        **os.environ,
        "OPT_ML": str(model_root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    log = (model_root / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "training.serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited: {(model_root / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        cold_start = time.monotonic() - started
        rows = [line.split("\t") for line in (staged / "test.lst").read_text().splitlines() if line.strip()]
        samples = [(int(float(label)), (staged / "test" / path).read_bytes()) for _, label, path in rows]
        latencies, correct = [], 0
        with httpx.Client(base_url=url, timeout=30) as client:
            client.post(
                "/invocations", content=samples[0][1], headers={"content-type": "image/png"}
            )  # warm-up
            for repeat in range(2):
                for label, body in samples:
                    tic = time.perf_counter()
                    response = client.post(
                        "/invocations", content=body, headers={"content-type": "image/png"}
                    )
                    latencies.append((time.perf_counter() - tic) * 1000)
                    probabilities = response.json()
                    if repeat == 0:
                        correct += int(max(range(len(probabilities)), key=probabilities.__getitem__) == label)
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
    finally:
        stop_child(process)
        log.close()
    latencies.sort()
    return {
        "cold_start_s": round(cold_start, 2),
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(0.95 * len(latencies)) - 1], 2),
        "served_accuracy": correct / len(samples),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--epochs", help="override the default (30) for a quick smoke run; figures then mean little"
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="model-bench-") as tmp:
        staged = Path(tmp) / "staged"
        stage(args.dataset, staged)
        runs = []
        for seed in seeds:
            extra = {"epochs": args.epochs} if args.epochs else {}
            run = train(job_layout(staged, Path(tmp) / f"seed-{seed}", extra), seed)
            runs.append(run)
            print(
                f"train seed {seed}: best validation accuracy {run['best_accuracy']:.3f} "
                f"(epoch {run['best_epoch']}, last epoch {run['last_epoch_accuracy']:.3f}); "
                f"wall {run['wall_s']} s (fit {run['fit_s']} s, cpu {run['cpu_s']} s); "
                f"peak RSS {run['peak_rss_mb']} MB",
                flush=True,
            )
        served = serve(Path(tmp) / f"seed-{seeds[0]}", staged)
    print(
        f"serve: cold start {served['cold_start_s']} s; single-image latency p50 {served['p50_ms']} ms, "
        f"p95 {served['p95_ms']} ms over {served['requests']} HTTP requests; served accuracy "
        f"{served['served_accuracy']:.3f}; peak RSS {served['peak_rss_mb']} MB"
    )
    accuracies = [r["best_accuracy"] for r in runs]
    figures = {
        "benchmark": "model",
        "seeds": seeds,
        "hyperparameters": {**HYPERPARAMETERS, **({"epochs": args.epochs} if args.epochs else {})},
        "validation_accuracy_mean": round(statistics.mean(accuracies), 4),
        "validation_accuracy_min": min(accuracies),
        "train_wall_s_max": max(r["wall_s"] for r in runs),
        "train_fit_s_mean": round(statistics.mean(r["fit_s"] for r in runs), 1),
        "train_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "serve_p50_ms": served["p50_ms"],
        "serve_p95_ms": served["p95_ms"],
        "serve_cold_start_s": served["cold_start_s"],
        "serve_peak_rss_mb": served["peak_rss_mb"],
        "served_accuracy": served["served_accuracy"],
        "load_average_at_start": round(load, 2),
        "runs": runs,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
