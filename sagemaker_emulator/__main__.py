"""``python -m sagemaker_emulator --host 127.0.0.1 --port 4577 --state-dir DIR``.

S3 and CloudWatch Logs are reached with plain boto3 through the environment this process
starts with (AWS_ENDPOINT_URL, credentials, region). Ready when ``GET /_emulator/health``
answers 200. SIGTERM stops training jobs and model servers and uploads pending captures.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from sagemaker_emulator.backend import DEFAULT_ACCOUNT, SageMakerBackend
from sagemaker_emulator.executors import ExecutorError, make_executor
from sagemaker_emulator.images import ImageMap, ImageMapError
from sagemaker_emulator.responses import create_app
from sagemaker_emulator.spool import DEFAULT_MAX_BYTES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m sagemaker_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4577)
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".harness/sagemaker"), help="jobs, endpoints, logs"
    )
    parser.add_argument(
        "--executor", choices=("process", "docker"), default=env.get("SAGEMAKER_EMULATOR_EXECUTOR", "process")
    )
    parser.add_argument(
        "--image-map",
        type=Path,
        default=Path(env["SAGEMAKER_EMULATOR_IMAGE_MAP"])
        if env.get("SAGEMAKER_EMULATOR_IMAGE_MAP")
        else None,
        help="JSON file mapping image URIs to local commands (see sagemaker_emulator/images.py)",
    )
    parser.add_argument(
        "--region", default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    parser.add_argument("--account-id", default=env.get("SAGEMAKER_EMULATOR_ACCOUNT_ID", DEFAULT_ACCOUNT))
    parser.add_argument(
        "--capture-flush-seconds", type=float, default=2.0, help="data capture upload interval"
    )
    parser.add_argument(
        "--capture-spool-max-mb",
        type=float,
        default=DEFAULT_MAX_BYTES / 2**20,
        help="data capture spool cap on disk; past it records are held in memory (64 MiB), then dropped",
    )
    parser.add_argument(
        "--max-training-jobs", type=int, default=4, help="concurrent jobs before ResourceLimitExceeded"
    )
    parser.add_argument(
        "--max-endpoints", type=int, default=10, help="endpoints before ResourceLimitExceeded"
    )
    parser.add_argument(
        "--ping-timeout", type=float, default=120.0, help="seconds for a model server's /ping"
    )
    parser.add_argument("--stop-grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument(
        "--health-interval",
        type=float,
        default=1.0,
        help="seconds between health checks of model servers (0: none)",
    )
    parser.add_argument(
        "--body-timeout", type=float, default=60.0, help="seconds an invocation's body may pause (then 408)"
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("botocore", "boto3", "httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        image_map = ImageMap.load(args.image_map)
        executor = make_executor(args.executor, image_map)
    except (ImageMapError, ExecutorError) as exc:
        print(f"sagemaker emulator: {exc}", file=sys.stderr)
        return 2
    args.state_dir.mkdir(parents=True, exist_ok=True)
    backend = SageMakerBackend(
        args.state_dir.resolve(),
        executor,
        region=args.region,
        account_id=args.account_id,
        capture_flush_interval=args.capture_flush_seconds,
        capture_spool_max_bytes=int(args.capture_spool_max_mb * 2**20),
        max_training_jobs=args.max_training_jobs,
        max_endpoints=args.max_endpoints,
        ping_timeout=args.ping_timeout,
        stop_grace=args.stop_grace,
        health_interval=args.health_interval,
    )
    config = uvicorn.Config(
        create_app(backend, body_timeout=args.body_timeout),
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
