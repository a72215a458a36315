"""Data capture when the disk is full, writes stop short, or the spool is at its cap.

AWS: "Data capture ... does not impact the performance or availability of the endpoint" -- a capture
problem never fails an inference (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture.html).
So: 0 inferences fail because of capture, 0 acknowledged records are lost (or they are counted as dropped),
and no spool line is ever torn.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sagemaker_emulator import spool as spool_module
from sagemaker_emulator.capture import CaptureConfig, CaptureWriter, Invocation
from tests.unit.emulator.support import capture_config, capture_records, deploy, put_model, unique

ROOT = Path(__file__).resolve().parents[3]


class MemoryS3Writer(CaptureWriter):
    """A CaptureWriter whose S3 is a dict that can be switched off."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.objects: dict[str, bytes] = {}
        self.s3_up = True
        super().__init__(*args, **kwargs)

    def _put(self, bucket: str, key: str, body: bytes) -> bool:
        if not self.s3_up:
            return False
        self.objects[f"{bucket}/{key}"] = body
        return True

    def uploaded(self) -> list[str]:
        return [
            json.loads(line)["captureData"]["endpointInput"]["data"]
            for body in self.objects.values()
            for line in body.decode().splitlines()
        ]


def invocation(i: int, size: int = 300) -> Invocation:
    config = CaptureConfig.from_api(
        capture_config("bkt", "cap", CaptureContentTypeHeader={"CsvContentTypes": ["text/csv"]})
    )
    assert config is not None
    body = f"{i:06d}," + "x" * size
    return Invocation(
        "ep", "v", config, body.encode(), "text/csv", b"0.5", "text/csv", None, dt.datetime.now(dt.UTC)
    )


def spool_lines_are_whole(folder: Path) -> None:
    for segment in folder.glob("*.jsonl"):
        try:
            raw = segment.read_bytes()
        except FileNotFoundError:  # the uploader thread rotated or removed it after the listing
            continue
        assert raw == b"" or raw.endswith(b"\n"), f"{segment.name} ends in a torn line"
        for line in raw.splitlines():
            json.loads(line)


def test_a_short_write_then_enospc_is_cut_back_and_the_record_kept(tmp_path, monkeypatch):
    writer = MemoryS3Writer(tmp_path / "spool", flush_interval=3600)
    real_write = os.write
    failing = {"on": True}

    def short_then_full(fd: int, data: Any) -> int:
        if failing["on"]:
            if len(data) > 10:
                return real_write(fd, bytes(data[:10]))  # what a nearly full disk does: a short write
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    writer.submit(invocation(0))  # one whole line before the disk fills
    writer.s3_up = False
    monkeypatch.setattr(spool_module, "_write", short_then_full)
    for i in range(1, 30):
        writer.submit(invocation(i))  # never raises: the inference is answered
    with writer.spool.lock:  # the writer thread may be draining held lines (and cutting them back) now
        spool_lines_are_whole(writer.spool_dir)
    stats = writer.stats()
    assert stats["spool_write_failures"] > 0 and stats["records_dropped"] == 0
    assert "No space left on device" in stats["last_error"]
    failing["on"] = False  # space is back, and S3
    writer.s3_up = True
    assert writer.flush()
    writer.close()
    spool_lines_are_whole(writer.spool_dir)
    assert sorted(int(d.split(",")[0]) for d in writer.uploaded()) == list(range(30))  # each once


def test_past_the_memory_cap_records_are_counted_and_logged_as_dropped(tmp_path, caplog):
    writer = MemoryS3Writer(
        tmp_path / "spool", flush_interval=3600, max_spool_bytes=2000, max_held_bytes=2000
    )
    writer.s3_up = False
    with caplog.at_level(logging.ERROR, logger="sagemaker_emulator.spool"):
        for i in range(20):
            writer.submit(invocation(i))
    stats = writer.stats()
    assert stats["spool_bytes"] <= 2000 and stats["records_dropped"] > 0
    kept = 20 - stats["records_dropped"]
    assert "capture record dropped" in caplog.text
    writer.s3_up = True
    assert writer.flush()
    writer.close()
    assert len(writer.uploaded()) == kept  # every record not counted as dropped arrives, once


def test_a_tail_that_could_not_be_cut_is_never_read_as_a_record():
    complete = b'{"a":1}\n{"b":2}\n'
    assert spool_module.complete_lines(complete + b'{"c":3}') == [b'{"a":1}', b'{"b":2}']


FILL_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {root!r})
    from tests.unit.emulator.test_capture_spool import MemoryS3Writer, invocation, spool_lines_are_whole
    from pathlib import Path
    mnt = Path(sys.argv[1])
    writer = MemoryS3Writer(mnt / "spool", flush_interval=3600)
    writer.s3_up = False  # S3 away: the spool only grows, until the filesystem is full
    for i in range(600):
        writer.submit(invocation(i, size=900))
    with writer.spool.lock:  # not while the writer thread drains held lines (and cuts a short one back)
        spool_lines_are_whole(mnt / "spool")
    full = writer.stats()
    writer.s3_up = True  # S3 back: spool and memory drain, which frees the disk
    flushed = writer.flush()
    writer.close()
    spool_lines_are_whole(mnt / "spool")
    print(json.dumps({{"full": full, "flushed": flushed, "uploaded": writer.uploaded()}}))
    """
)


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1) to mount a tmpfs"
)
def test_a_real_filesystem_that_fills_loses_nothing_and_tears_nothing(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(FILL_SCRIPT.format(root=str(ROOT)))
    # A private mount namespace: the 256 KiB tmpfs exists only for this process and vanishes with it.
    shell = f'mount -t tmpfs -o size=256k tmpfs "{mnt}" && exec "{sys.executable}" "{script}" "{mnt}"'
    proc = subprocess.run(["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "mount" in proc.stderr and "permission" in proc.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    full = result["full"]
    assert full["spool_write_failures"] > 0, "the filesystem never filled: the test proves nothing"
    assert full["records_held_in_memory"] > 0 and full["records_dropped"] == 0
    assert "No space left on device" in full["last_error"]
    assert result["flushed"]
    assert sorted(int(d.split(",")[0]) for d in result["uploaded"]) == list(range(600))  # once each


def test_invocations_succeed_past_the_spool_cap_and_every_record_arrives(emulator_factory, s3, bucket):
    """Through the emulator: a 1 KiB spool cap and an absent bucket; every call answers 200."""
    emu = emulator_factory("--capture-flush-seconds", "3600", "--capture-spool-max-mb", "0.001")
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name, target = unique("cap-cap"), unique("capture-bucket")
    deploy(
        client,
        name,
        put_model(s3, bucket, "v1"),
        capture={**capture_config(bucket, "x"), "DestinationS3Uri": f"s3://{target}/captures"},
    )
    for i in range(20):
        runtime.invoke_endpoint(EndpointName=name, Body=str(i).encode() * 50, ContentType="text/plain")
    stats = emu.flush_capture()  # S3 refuses (no bucket): what the cap kept off the disk stays in memory
    assert stats["records_held_in_memory"] > 0 and stats["records_dropped"] == 0
    s3.create_bucket(Bucket=target)
    assert emu.flush_capture()["flushed"]
    assert len(capture_records(s3, target, "captures/")) == 20


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1) to mount a tmpfs"
)
def test_an_emulator_whose_spool_disk_fills_answers_every_invocation_and_loses_no_record(
    emulator_factory, s3, bucket, tmp_path
):
    """The issue's scenario: the disk under the spool fills while S3 is away (the bucket is missing)."""
    state = tmp_path / "sagemaker"
    spool = state / "capture-pending"
    spool.mkdir(parents=True)
    # The emulator runs in its own mount namespace, over a 64 KiB tmpfs at its spool folder.
    wrap = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "{spool}" && exec "$@"', "sh"]
    emu = emulator_factory("--capture-flush-seconds", "3600", state_dir=state, wrap=wrap)
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name, target = unique("cap-full"), unique("capture-bucket")
    deploy(
        client,
        name,
        put_model(s3, bucket, "v1"),
        capture={**capture_config(bucket, "x"), "DestinationS3Uri": f"s3://{target}/captures"},
    )
    for i in range(120):  # about 2.5 KB a record: the 64 KiB fill after some 25
        runtime.invoke_endpoint(
            EndpointName=name, Body=f"{i:04d}".encode() * 250, ContentType="text/plain"
        )  # any failure raises here: 0 inferences failed because of capture
    stats = emu.flush_capture()
    assert stats["spool_write_failures"] > 0, "the spool never filled: the test proves nothing"
    assert "No space left on device" in stats["last_error"] and stats["records_dropped"] == 0
    s3.create_bucket(Bucket=target)
    assert emu.flush_capture()["flushed"]
    records = capture_records(s3, target, "captures/")
    ids = sorted(int(r["endpointInput"][:4]) for _, r in records)
    assert ids == list(range(120))  # every acknowledged record, once, none torn
    emu.stop()
