"""How fast ``harness report`` reads a capture and draws the report, and that memory stays flat.

Builds a synthetic capture in moto S3 (real 32x32 PNG inputs, base64 like the service writes
them, a mix of plain and gzip files, 200 staged test images), then times the streaming scan, the
whole report without plots (what ``--format json`` does) and the report with plots and HTML.
Run from the repository root: ``python benchmarks/report.py [records]``. Rows first, then one
line of JSON with the figures.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto import mock_aws
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support, from a checkout

from harness.config import Settings
from harness.report import build_report
from harness.report.capture import scan_captures
from harness.targets.aws import AwsTarget
from tests.support.capture import capture_line

BUCKET = "bench"
ENDPOINT = "bench-ep"
PER_FILE = 1000


def _png(rng: random.Random) -> bytes:
    image = Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _line(image: bytes, p: float, when: datetime) -> str:
    return capture_line(image, [p, 1 - p], when.strftime("%Y-%m-%dT%H:%M:%SZ"), event_id="e")


def _populate(s3, records: int) -> int:
    rng = random.Random(7)
    images = [_png(rng) for _ in range(200)]
    s3.put_object(
        Bucket=BUCKET, Key="test.lst", Body="".join(f"{i}\t{i % 2}\ttest/{i}.png\n" for i in range(200))
    )
    for i, data in enumerate(images):
        s3.put_object(Bucket=BUCKET, Key=f"test/{i}.png", Body=data)
    t0 = datetime(2025, 10, 4, 8, tzinfo=UTC)
    size = 0
    for start in range(0, records, PER_FILE):
        lines = [
            _line(images[i % 200], rng.uniform(0.5, 1.0), t0 + timedelta(seconds=i))
            for i in range(start, min(records, start + PER_FILE))
        ]
        body = ("\n".join(lines) + "\n").encode()
        gz = (start // PER_FILE) % 2 == 1
        key = f"data_capture/{ENDPOINT}/AllTraffic/2025/10/04/08/{start:08d}.jsonl" + (".gz" if gz else "")
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body) if gz else body)
        size += len(body)
    return size


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    settings = Settings(target="aws", bucket=BUCKET, endpoint_name=ENDPOINT)
    target = AwsTarget(region="us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        raw_bytes = _populate(s3, records)

        tracemalloc.start()
        t = time.perf_counter()
        scan = scan_captures(s3, BUCKET, settings.capture_prefix, ENDPOINT)
        scan_s = time.perf_counter() - t
        _, scan_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(scan.records) == records, len(scan.records)

        t = time.perf_counter()
        figures = build_report(settings, target).figures
        json_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            result = build_report(settings, target, Path(out))
            html_s = time.perf_counter() - t
            html_bytes = result.html_path.stat().st_size

    rate = records / scan_s
    print(f"capture: {records} records in {scan.files} files, {raw_bytes / 1e6:.1f} MB uncompressed JSONL")
    print(f"scan (stream+parse+hash, traced): {scan_s:6.2f} s  {rate:9.0f} records/s")
    print(
        f"scan peak traced memory:       {scan_peak / 1e6:6.1f} MB  ({scan_peak / raw_bytes:.1%} of the data)"
    )
    print(f"report, figures only (json):      {json_s:6.2f} s  (includes hashing 200 staged test images)")
    print(f"report with 5 plots + HTML:       {html_s:6.2f} s  HTML {html_bytes / 1e3:.0f} kB")
    print(f"figures: pass rate {figures['pass_rate']:.3f}, accuracy {figures['accuracy']:.3f}")
    print(
        json.dumps(
            {
                "records": records,
                "files": scan.files,
                "capture_mb": round(raw_bytes / 1e6, 2),
                "scan_s": round(scan_s, 3),
                "records_per_s": round(rate),
                "scan_peak_mb": round(scan_peak / 1e6, 2),
                "report_json_s": round(json_s, 3),
                "report_html_s": round(html_s, 3),
                "html_kb": round(html_bytes / 1e3),
            }
        )
    )


if __name__ == "__main__":
    main()
