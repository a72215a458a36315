"""Model servers behind an endpoint: start, health-check, route, drain and stop.

One :class:`ModelServer` per production variant runs the model's image in ``serve`` mode on a
free 127.0.0.1 port, over ``<workdir>/opt_ml/model`` holding the extracted ``model.tar.gz``.
It is ready when ``GET /ping`` answers 200. An :class:`EndpointRuntime` is the routing table of
one deployment; UpdateEndpoint builds a new runtime, swaps it in only once every server of it is
ready, then drains and stops the old one, so no request fails in between.
"""

from __future__ import annotations

import random
import shutil
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagemaker_emulator import aws
from sagemaker_emulator.capture import CaptureConfig
from sagemaker_emulator.executors import Executor, Run, RunSpec

PING_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0


class DeployError(RuntimeError):
    """A variant could not be brought up; the message becomes the endpoint's FailureReason."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def extract_model(archive: Path, dest: Path) -> None:
    """Unpack model.tar.gz like SageMaker does, refusing members that escape ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise DeployError(
            f"Failed to extract model data archive {archive.name}. Please ensure that the object is a valid "
            f"tar.gz archive ({exc})."
        ) from exc


@dataclass
class ModelServer:
    """One running model container (a subprocess or a docker container) for one variant."""

    endpoint: str
    variant: str
    image: str
    workdir: Path
    port: int = 0
    run: Run | None = None
    inflight: int = 0
    ready: threading.Event = field(default_factory=threading.Event)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    sink: aws.LogSink | None = None
    _log_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, executor: Executor, env: dict[str, str], log_group: str | None = None) -> None:
        self.port = free_port()
        log_sink = self.sink = aws.LogSink(log_group, f"{self.variant}/{self.port}") if log_group else None
        spec = RunSpec(
            image=self.image,
            mode="serve",
            opt_ml=self.workdir / "opt_ml",
            name=f"sm-{self.endpoint}-{self.variant}-{self.port}",
            env=env,
            port=self.port,
        )
        self.run = executor.start(spec)
        log_path = self.workdir / "server.log"

        def pump() -> None:
            assert self.run is not None
            with log_path.open("a") as fh:
                for line in self.run.lines():
                    fh.write(line + "\n")
                    fh.flush()
                    self.tail.append(line)
                    if log_sink is not None:
                        log_sink.write(line)

        self._log_thread = threading.Thread(target=pump, name=f"serve-log:{self.endpoint}", daemon=True)
        self._log_thread.start()

    def wait_ready(self, timeout: float = PING_TIMEOUT_S) -> None:
        """Poll ``/ping`` until 200; DeployError when the server exits or the time runs out."""
        assert self.run is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.run.poll()
            if code is not None:
                if self._log_thread is not None:
                    self._log_thread.join(timeout=2)
                raise DeployError(self._ping_failure(f"the model server exited with code {code}"))
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as resp:
                    if resp.status == 200:
                        self.ready.set()
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        raise DeployError(self._ping_failure(f"no 200 from /ping within {timeout:.0f} s"))

    def _ping_failure(self, what: str) -> str:
        last = " | ".join(list(self.tail)[-5:])
        reason = (
            f"The primary container for production variant {self.variant} did not pass the ping health "
            f"check ({what})."
        )
        return f"{reason} Last log lines: {last}" if last else reason

    def stop(self, drain_timeout: float = 0.0) -> None:
        if drain_timeout > 0:
            # A request that picked this server just before a swap increments ``inflight`` without
            # yielding to the event loop; a short pause lets it do so before the count is trusted.
            time.sleep(0.2)
        deadline = time.monotonic() + drain_timeout
        while self.inflight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.run is not None:
            self.run.stop(STOP_GRACE_S)
        if self._log_thread is not None:
            self._log_thread.join(timeout=2)
        if self.sink is not None:
            self.sink.close()

    def pid_record(self) -> dict[str, Any] | None:
        if self.run is None or self.run.pid is None:
            return None
        return {"pid": self.run.pid, "started": self.run.started}


@dataclass
class Variant:
    name: str
    weight: float
    server: ModelServer


@dataclass
class EndpointRuntime:
    """The routing table of one deployment of an endpoint (one endpoint config)."""

    config_name: str
    variants: list[Variant]
    capture: CaptureConfig | None

    def pick(self, target_variant: str | None) -> Variant | None:
        if target_variant:
            return next((v for v in self.variants if v.name == target_variant), None)
        if len(self.variants) == 1:
            return self.variants[0]
        total = sum(v.weight for v in self.variants)
        if total <= 0:
            return random.choice(self.variants)
        point = random.random() * total
        for v in self.variants:
            point -= v.weight
            if point <= 0:
                return v
        return self.variants[-1]

    def ready(self) -> bool:
        return all(v.server.ready.is_set() for v in self.variants)

    def stop(self, drain_timeout: float = 0.0) -> None:
        threads = [
            threading.Thread(target=v.server.stop, args=(drain_timeout,), daemon=True) for v in self.variants
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def pid_records(self) -> list[dict[str, Any]]:
        return [r for v in self.variants if (r := v.server.pid_record())]


def prepare_model_dir(container: dict[str, Any], workdir: Path) -> None:
    """Download and extract the model's data into ``workdir/opt_ml/model`` (empty when none)."""
    model_dir = workdir / "opt_ml" / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    url = container.get("ModelDataUrl")
    source = (container.get("ModelDataSource") or {}).get("S3DataSource")
    if url:
        archive = workdir / "model.tar.gz"
        aws.download_object(url, archive)
        extract_model(archive, model_dir)
        archive.unlink(missing_ok=True)
    elif source:
        if source.get("CompressionType") == "Gzip":
            archive = workdir / "model.tar.gz"
            aws.download_object(source["S3Uri"], archive)
            extract_model(archive, model_dir)
            archive.unlink(missing_ok=True)
        else:
            aws.download_prefix(source["S3Uri"], model_dir)
