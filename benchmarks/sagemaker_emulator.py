"""SageMaker emulator speed: InvokeEndpoint overhead and CreateEndpoint -> InService.

``python benchmarks/sagemaker_emulator.py [--invokes 2000] [--creates 5]`` (from the repo root)

Starts moto's S3/Logs server and the emulator (``python -m sagemaker_emulator``) on free
127.0.0.1 ports, deploys a minimal model server that follows the serving contract
(tests/unit/emulator/sagemaker_images/server.py: uvicorn + starlette, echoes JSON), then times:

* InvokeEndpoint through the emulator vs the same model server called directly, with the same
  keep-alive HTTP client (``http.client``) and body, sequentially: the difference is what the
  emulator adds (target p50 <= 2 ms). boto3 through the emulator is shown for reference.
* InvokeEndpoint through LocalStack's main port (the project's ``sagemaker-runtime:emulator`` provider
  and its fast path, localstack_plugin/patches/invoke_endpoint_fast_path.py, forward to the same
  emulator) vs the emulator's own port, same client and body: the difference is what the gateway adds
  (target p50 < 2 ms). The embedded LocalStack runs its default server, twisted, which keeps the
  connection alive; a second row asks for keep-alive explicitly (what hypercorn would need).
  ``--no-gateway`` skips them (they need LocalStack's venv, built by the first ``harness up``).
* CreateEndpoint until DescribeEndpoint says InService, polled every 10 ms (target <= 3 s).
* A batch transform job over ``--transform-objects`` small objects (one request each), from
  CreateTransformJob until DescribeTransformJob says Completed (model server start included).

Readable rows first, then one final line of JSON with the figures.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
import warnings
from pathlib import Path
from typing import Any

import boto3
import botocore.config

from harness.embedded.process import stop_child

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "unit" / "emulator" / "sagemaker_images" / "server.py"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/benchmark-echo:1"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
BODY = json.dumps({"instances": [[0.1] * 64]}).encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_posts(host: str, port: int, path: str, n: int, headers: dict[str, str] | None = None) -> list[float]:
    conn = http.client.HTTPConnection(host, port)
    headers = headers or {"Content-Type": "application/json", "Accept": "application/json"}
    out = []
    for i in range(n + 50):
        start = time.perf_counter()
        conn.request("POST", path, body=BODY, headers=headers)
        resp = conn.getresponse()
        resp.read()
        elapsed = time.perf_counter() - start
        assert resp.status == 200, resp.status
        if i >= 50:  # warm-up
            out.append(elapsed * 1000)
    conn.close()
    return out


def time_boto3(smr: Any, endpoint: str, n: int) -> list[float]:
    """Milliseconds of ``n`` boto3 ``invoke_endpoint`` calls, after 20 warm-up calls."""
    out = []
    for i in range(n + 20):
        start = time.perf_counter()
        answer = smr.invoke_endpoint(EndpointName=endpoint, Body=BODY, ContentType="application/json")
        answer["Body"].read()
        if i >= 20:
            out.append((time.perf_counter() - start) * 1000)
    return out


def signed_headers(port: int, path: str) -> dict[str, str]:
    """SigV4 headers of one InvokeEndpoint request: the gateway routes by the signing name in them."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        "POST",
        f"http://127.0.0.1:{port}{path}",
        data=BODY,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    SigV4Auth(Credentials("test", "test"), "sagemaker", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def start_gateway(tmp: Path, emulator_port: int) -> tuple[subprocess.Popen, int]:
    """LocalStack with the project's plugin, its SageMaker providers forwarding to ``emulator_port``."""
    from harness.config import load_settings
    from harness.embedded import localstack
    from harness.embedded.process import free_port, is_healthy

    settings = load_settings().replace(
        home=tmp / "home", localstack_port=free_port(), sagemaker_port=emulator_port
    )
    spec = localstack.launch_spec(settings, localstack.ensure_venv(settings))
    for sub in ("tmp", "volume"):
        (spec.state_dir / sub).mkdir(parents=True, exist_ok=True)
    log = open(tmp / "localstack.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(spec.cmd, env=spec.env, cwd=spec.state_dir, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        if is_healthy(spec.health_url):
            return proc, settings.localstack_port
        if proc.poll() is not None:
            raise RuntimeError(f"LocalStack exited with {proc.returncode}; see {tmp / 'localstack.log'}")
        time.sleep(0.1)
    stop_child(proc)
    raise RuntimeError("LocalStack did not become healthy in 60 s")


def model_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("version.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"bench"))
    return buf.getvalue()


def time_transform(sm: Any, s3: Any, bucket: str, n: int) -> float:
    """Seconds from CreateTransformJob to Completed over ``n`` objects of ``BODY``."""
    for i in range(n):
        s3.put_object(Bucket=bucket, Key=f"transform-in/{i:04d}.json", Body=BODY)
    start = time.perf_counter()
    sm.create_transform_job(
        TransformJobName="bench-transform",
        ModelName="bench-model",
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/transform-in/"}
            },
            "ContentType": "application/json",
        },
        TransformOutput={"S3OutputPath": f"s3://{bucket}/transform-out"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    while (
        status := sm.describe_transform_job(TransformJobName="bench-transform")["TransformJobStatus"]
    ) not in (
        "Completed",
        "Failed",
        "Stopped",
    ):
        time.sleep(0.05)
    if status != "Completed":
        raise RuntimeError(f"the benchmark's transform job ended {status}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invokes", type=int, default=2000)
    parser.add_argument("--creates", type=int, default=5)
    parser.add_argument("--transform-objects", type=int, default=200)
    parser.add_argument(
        "--no-gateway", action="store_true", help="skip the rows through LocalStack's main port"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    moto_url = "http://{}:{}".format(*moto.get_host_and_port())
    tmp = Path(tempfile.mkdtemp(prefix="sm-bench-"))
    imap = tmp / "image-map.json"
    imap.write_text(json.dumps([{"image": IMAGE.replace(".", r"\."), "serve": ["{python}", str(SERVER)]}]))
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    cmd = [
        sys.executable,
        "-m",
        "sagemaker_emulator",
        "--port",
        str(port),
        "--state-dir",
        str(tmp / "state"),
        "--image-map",
        str(imap),
        "--log-level",
        "warning",
    ]
    emu = subprocess.Popen(cmd, cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    gateway: subprocess.Popen | None = None
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/_emulator/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 1})
        sm = boto3.client("sagemaker", endpoint_url=url, config=cfg, **CREDS)
        smr = boto3.client("sagemaker-runtime", endpoint_url=url, config=cfg, **CREDS)
        s3 = boto3.client("s3", endpoint_url=moto_url, **CREDS)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=model_tar())
        sm.create_model(
            ModelName="bench-model",
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/model.tar.gz"},
            ExecutionRoleArn="arn:aws:iam::000000000000:role/bench",
        )
        sm.create_endpoint_config(
            EndpointConfigName="bench-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "bench-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )

        creates = []
        for i in range(args.creates):
            name = f"bench-create-{i}"
            start = time.perf_counter()
            sm.create_endpoint(EndpointName=name, EndpointConfigName="bench-config")
            while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
                time.sleep(0.01)
            creates.append(time.perf_counter() - start)
            if i < args.creates - 1:
                sm.delete_endpoint(EndpointName=name)
        endpoint = f"bench-create-{args.creates - 1}"
        transform_s = time_transform(sm, s3, bucket, args.transform_objects)
        health = json.loads(urllib.request.urlopen(url + "/_emulator/health").read())
        direct_url = health["servers"][endpoint]["AllTraffic"]
        direct_port = int(direct_url.rsplit(":", 1)[1])

        direct = time_posts("127.0.0.1", direct_port, "/invocations", args.invokes)
        via = time_posts("127.0.0.1", port, f"/endpoints/{endpoint}/invocations", args.invokes)
        direct2 = time_posts(
            "127.0.0.1", direct_port, "/invocations", args.invokes
        )  # interleave against drift
        direct = direct + direct2
        boto = time_boto3(smr, endpoint, min(args.invokes, 500))

        gateway_figures: dict[str, float] = {}
        if not args.no_gateway:
            gateway, gateway_port = start_gateway(tmp, port)
            path = f"/endpoints/{endpoint}/invocations"
            emulator_again = time_posts("127.0.0.1", port, path, args.invokes)
            signed = signed_headers(gateway_port, path)
            main = time_posts("127.0.0.1", gateway_port, path, args.invokes, signed)
            # The same, asking for keep-alive: LocalStack then leaves the connection open.
            main_kept = time_posts(
                "127.0.0.1", gateway_port, path, args.invokes, {**signed, "Connection": "keep-alive"}
            )
            emulator_port_times = via + emulator_again
            gsmr = boto3.client(
                "sagemaker-runtime", endpoint_url=f"http://127.0.0.1:{gateway_port}", config=cfg, **CREDS
            )
            gboto = time_boto3(gsmr, endpoint, min(args.invokes, 500))
            gateway_figures = {
                "main_port_p50_ms": round(pct(main, 0.5), 3),
                "main_port_p95_ms": round(pct(main, 0.95), 3),
                "gateway_overhead_p50_ms": round(pct(main, 0.5) - pct(emulator_port_times, 0.5), 3),
                "gateway_overhead_p95_ms": round(pct(main, 0.95) - pct(emulator_port_times, 0.95), 3),
                "main_port_keepalive_p50_ms": round(pct(main_kept, 0.5), 3),
                "gateway_overhead_keepalive_p50_ms": round(
                    pct(main_kept, 0.5) - pct(emulator_port_times, 0.5), 3
                ),
                "boto3_via_main_port_p50_ms": round(pct(gboto, 0.5), 3),
                "boto3_gateway_overhead_p50_ms": round(pct(gboto, 0.5) - pct(boto, 0.5), 3),
            }

        figures = {
            "invokes": args.invokes,
            "direct_p50_ms": round(pct(direct, 0.5), 3),
            "direct_p95_ms": round(pct(direct, 0.95), 3),
            "emulator_p50_ms": round(pct(via, 0.5), 3),
            "emulator_p95_ms": round(pct(via, 0.95), 3),
            "overhead_p50_ms": round(pct(via, 0.5) - pct(direct, 0.5), 3),
            "overhead_p95_ms": round(pct(via, 0.95) - pct(direct, 0.95), 3),
            "overhead_ratio_p50": round(pct(via, 0.5) / pct(direct, 0.5), 2),
            "boto3_via_emulator_p50_ms": round(pct(boto, 0.5), 3),
            "create_to_inservice_median_s": round(statistics.median(creates), 3),
            "create_to_inservice_max_s": round(max(creates), 3),
            "transform_objects": args.transform_objects,
            "transform_job_s": round(transform_s, 3),
            "transform_per_object_ms": round(transform_s * 1000 / max(1, args.transform_objects), 3),
            **gateway_figures,
            "cpu_count": os.cpu_count(),
        }
        figures["targets_met"] = (
            figures["overhead_p50_ms"] <= 2.0
            and figures["create_to_inservice_max_s"] <= 3.0
            and figures.get("gateway_overhead_p50_ms", 0.0) < 2.0
        )
        rows = [
            ("model server, direct (ms)", "direct_p50_ms", "direct_p95_ms"),
            ("through the emulator (ms)", "emulator_p50_ms", "emulator_p95_ms"),
            ("overhead (ms), target p50 <= 2", "overhead_p50_ms", "overhead_p95_ms"),
            ("overhead ratio", "overhead_ratio_p50", None),
            ("boto3 invoke_endpoint via emulator (ms)", "boto3_via_emulator_p50_ms", None),
        ]
        if gateway_figures:
            rows += [
                ("through LocalStack's main port (ms)", "main_port_p50_ms", "main_port_p95_ms"),
                (
                    "main port over emulator port, target p50 < 2",
                    "gateway_overhead_p50_ms",
                    "gateway_overhead_p95_ms",
                ),
                ("main port, client asks keep-alive (ms)", "main_port_keepalive_p50_ms", None),
                ("  its overhead over the emulator port (ms)", "gateway_overhead_keepalive_p50_ms", None),
                ("boto3 invoke_endpoint via main port (ms)", "boto3_via_main_port_p50_ms", None),
                ("boto3: main port over emulator port (ms)", "boto3_gateway_overhead_p50_ms", None),
            ]
        print(f"{'figure':<48}{'p50':>10}{'p95':>10}")
        for label, p50, p95 in rows:
            print(f"{label:<48}{figures[p50]:>10}{figures[p95] if p95 else '':>10}")
        print(
            f"CreateEndpoint -> InService: median {figures['create_to_inservice_median_s']} s, "
            f"max {figures['create_to_inservice_max_s']} s over {args.creates} (target <= 3 s)"
        )
        print(
            f"Transform job over {args.transform_objects} objects: {figures['transform_job_s']} s "
            f"({figures['transform_per_object_ms']} ms per object, model server start included)"
        )
        print(json.dumps(figures))
    finally:
        if gateway is not None:
            stop_child(gateway)
        stop_child(emu, grace=30)
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
