"""SageMaker emulator speed: InvokeEndpoint overhead and CreateEndpoint -> InService.

``python benchmarks/sagemaker_emulator.py [--invokes 2000] [--creates 5]`` (from the repo root)

Starts moto's S3/Logs server and the emulator (``python -m sagemaker_emulator``) on free
127.0.0.1 ports, deploys a minimal model server that follows the serving contract
(tests/unit/emulator/sagemaker_images/server.py: uvicorn + starlette, echoes JSON), then times:

* InvokeEndpoint through the emulator vs the same model server called directly, with the same
  keep-alive HTTP client (``http.client``) and body, sequentially: the difference is what the
  emulator adds (target p50 <= 2 ms). boto3 through the emulator is shown for reference.
* CreateEndpoint until DescribeEndpoint says InService, polled every 10 ms (target <= 3 s).

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


def time_posts(host: str, port: int, path: str, n: int) -> list[float]:
    conn = http.client.HTTPConnection(host, port)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
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


def model_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("version.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"bench"))
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invokes", type=int, default=2000)
    parser.add_argument("--creates", type=int, default=5)
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
        health = json.loads(urllib.request.urlopen(url + "/_emulator/health").read())
        direct_url = health["servers"][endpoint]["AllTraffic"]
        direct_port = int(direct_url.rsplit(":", 1)[1])

        direct = time_posts("127.0.0.1", direct_port, "/invocations", args.invokes)
        via = time_posts("127.0.0.1", port, f"/endpoints/{endpoint}/invocations", args.invokes)
        direct2 = time_posts(
            "127.0.0.1", direct_port, "/invocations", args.invokes
        )  # interleave against drift
        direct = direct + direct2
        boto = []
        for i in range(min(args.invokes, 500) + 20):
            start = time.perf_counter()
            smr.invoke_endpoint(EndpointName=endpoint, Body=BODY, ContentType="application/json")[
                "Body"
            ].read()
            if i >= 20:
                boto.append((time.perf_counter() - start) * 1000)

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
            "cpu_count": os.cpu_count(),
        }
        figures["targets_met"] = (
            figures["overhead_p50_ms"] <= 2.0 and figures["create_to_inservice_max_s"] <= 3.0
        )
        rows = [
            ("model server, direct (ms)", "direct_p50_ms", "direct_p95_ms"),
            ("through the emulator (ms)", "emulator_p50_ms", "emulator_p95_ms"),
            ("overhead (ms), target p50 <= 2", "overhead_p50_ms", "overhead_p95_ms"),
            ("overhead ratio", "overhead_ratio_p50", None),
            ("boto3 invoke_endpoint via emulator (ms)", "boto3_via_emulator_p50_ms", None),
        ]
        print(f"{'figure':<42}{'p50':>10}{'p95':>10}")
        for label, p50, p95 in rows:
            print(f"{label:<42}{figures[p50]:>10}{figures[p95] if p95 else '':>10}")
        print(
            f"CreateEndpoint -> InService: median {figures['create_to_inservice_median_s']} s, "
            f"max {figures['create_to_inservice_max_s']} s over {args.creates} (target <= 3 s)"
        )
        print(json.dumps(figures))
    finally:
        stop_child(emu, grace=30)
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
