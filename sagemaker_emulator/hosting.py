"""Model servers behind an endpoint: start, health-check, route, drain and stop.

One :class:`ModelServer` per production variant runs the model's image in ``serve`` mode on a
free 127.0.0.1 port, over ``<workdir>/opt_ml/model`` holding the extracted ``model.tar.gz``.
It is ready when ``GET /ping`` answers 200. An :class:`EndpointRuntime` is the routing table of
one deployment; the :class:`EndpointDeployer` (hosting's counterpart of training's
``TrainingRunner``) builds one on a worker thread for CreateEndpoint and UpdateEndpoint, swaps it
in only once every server of it is ready, then drains and stops the old one, so no request fails
in between; DeleteEndpoint cancels a deployment in progress and stops what runs.
"""

from __future__ import annotations

import random
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sagemaker_emulator import aws
from sagemaker_emulator.capture import CaptureConfig
from sagemaker_emulator.executors import CONTAINER_OPT_ML, Executor, ExecutorError, Run, RunSpec
from sagemaker_emulator.modeldata import DeployError, prepare_model_dir
from sagemaker_emulator.resources import Endpoint, EndpointConfig, Model, utcnow

PING_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0

__all__ = [
    "DRAIN_TIMEOUT_S",
    "PING_TIMEOUT_S",
    "DeployError",
    "EndpointDeployer",
    "EndpointRuntime",
    "Lease",
    "ModelServer",
    "RuntimeClosed",
    "Variant",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ModelServer:
    """One running model container (a subprocess or a docker container) for one variant."""

    endpoint: str
    variant: str
    image: str
    workdir: Path
    port: int = 0
    run: Run | None = None
    inflight: int = 0  # counted by EndpointRuntime.acquire/release, under the runtime's lock
    ready: threading.Event = field(default_factory=threading.Event)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    sink: aws.LogSink | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_group: str | None = None
    ping_failures: int = 0  # consecutive failed health checks (HealthMonitor)
    _log_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, executor: Executor, env: dict[str, str], log_group: str | None = None) -> None:
        self.env, self.log_group = dict(env), log_group
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

    def wait_ready(self, timeout: float = PING_TIMEOUT_S, cancel: threading.Event | None = None) -> None:
        """Poll ``/ping`` until 200; DeployError when the server exits, the time runs out or ``cancel``."""
        assert self.run is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                raise DeployError("the deployment was cancelled")
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
        for host in {str(self.workdir / "opt_ml"), str((self.workdir / "opt_ml").resolve())}:
            last = last.replace(host, CONTAINER_OPT_ML)  # the container's view, as AWS reports it
        reason = (
            f"The primary container for production variant {self.variant} did not pass the ping health "
            f"check ({what})."
        )
        return f"{reason} Last log lines: {last}" if last else reason

    def stop(self, drain_timeout: float = 0.0) -> None:
        """Wait up to ``drain_timeout`` for counted requests to finish, then stop the process.

        Callers close the runtime first (EndpointRuntime.stop), so the count can only fall.
        """
        deadline = time.monotonic() + drain_timeout
        while self.inflight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.run is not None:
            self.run.stop(STOP_GRACE_S)
        if self._log_thread is not None:
            self._log_thread.join(timeout=2)
        if self.sink is not None:
            self.sink.close()

    def replacement(self) -> ModelServer:
        """A new server for the same variant over the same model folder (not started)."""
        return ModelServer(self.endpoint, self.variant, self.image, self.workdir)

    def pid_record(self) -> dict[str, Any] | None:
        if self.run is None or self.run.pid is None:
            return None
        return {"pid": self.run.pid, "started": self.run.started}


@dataclass
class Variant:
    name: str
    weight: float
    server: ModelServer  # replaced in place when the HealthMonitor replaces a dead server


@dataclass(frozen=True)
class Lease:
    """One routed request: the variant and the very server it was counted on."""

    variant: Variant
    server: ModelServer


class RuntimeClosed(Exception):
    """The runtime was swapped out or stopped between looking it up and picking from it: look again."""


@dataclass
class EndpointRuntime:
    """The routing table of one deployment of an endpoint (one endpoint config)."""

    config_name: str
    variants: list[Variant]
    capture: CaptureConfig | None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = False

    def acquire(self, target_variant: str | None) -> Lease | None:
        """Pick a variant and count the request on its server in one step.

        Counting inside the pick, under the lock :meth:`close` takes, means a drain never misses
        a request: either it was counted before the close, or it gets RuntimeClosed and looks up
        the runtime that replaced this one. ``None`` when ``target_variant`` names no variant.
        """
        with self._lock:
            if self._closed:
                raise RuntimeClosed(self.config_name)
            variant = self._pick(target_variant)
            if variant is None:
                return None
            variant.server.inflight += 1
            return Lease(variant, variant.server)

    def release(self, lease: Lease) -> None:
        with self._lock:
            lease.server.inflight -= 1

    def replace_server(self, variant: Variant, server: ModelServer) -> bool:
        """Route ``variant`` to ``server`` from now on; False (nothing changed) once the runtime is closed."""
        with self._lock:
            if self._closed:
                return False
            variant.server = server
            return True

    def _pick(self, target_variant: str | None) -> Variant | None:
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

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def stop(self, drain_timeout: float = 0.0) -> None:
        self.close()
        threads = [
            threading.Thread(target=v.server.stop, args=(drain_timeout,), daemon=True) for v in self.variants
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def pid_records(self) -> list[dict[str, Any]]:
        return [r for v in self.variants if (r := v.server.pid_record())]


class Host(Protocol):
    """What the deployer needs from the backend that owns the endpoints (see backend.py)."""

    lock: threading.RLock
    models: dict[str, Model]
    endpoints: dict[str, Endpoint]
    state_dir: Path
    executor: Executor
    ping_timeout: float
    closing: bool

    def arn(self, kind: str, name: str) -> str: ...
    def save(self, obj: Any) -> None: ...
    def forget(self, obj: Any) -> None: ...


def log_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


class EndpointDeployer:
    """Creates, updates and deletes endpoints' runtimes on worker threads, one at a time per endpoint.

    Each endpoint has at most one worker; a delete waits for (and cancels) the deployment in
    progress. ``cancel`` events stop a deployment's ping wait at once instead of after the ping
    timeout.
    """

    def __init__(self, host: Host):
        self.host = host
        self._cancel: dict[str, threading.Event] = {}

    # ------------------------------------------------------------ entry points (called under host.lock)
    def deploy(self, ep: Endpoint, config: EndpointConfig, update: bool) -> None:
        cancel = self._cancel.setdefault(ep.name, threading.Event())
        self._spawn(ep, self._deploy_worker, ep, config, update, cancel)

    def delete(self, ep: Endpoint) -> None:
        previous = ep.worker
        self._cancel.setdefault(ep.name, threading.Event()).set()
        self._spawn(ep, self._delete_worker, ep, previous)

    def _spawn(self, ep: Endpoint, target: Any, *args: Any) -> None:
        ep.worker = threading.Thread(target=target, args=args, name=f"endpoint:{ep.name}", daemon=True)
        ep.worker.start()

    # ------------------------------------------------------------ workers
    def build(
        self, ep: Endpoint, config: EndpointConfig, cancel: threading.Event | None = None
    ) -> EndpointRuntime:
        """Start every variant's server and wait for all pings; DeployError names what failed."""
        host = self.host
        started: list[Variant] = []
        generation = uuid.uuid4().hex[:8]
        try:
            for pv in config.variants:
                model = host.models.get(pv["ModelName"])
                if model is None:
                    raise DeployError(f'Could not find model "{host.arn("model", pv["ModelName"])}".')
                container = model.container
                image = container.get("Image", "")
                workdir = host.state_dir / "endpoints" / ep.name / f"{pv['VariantName']}-{generation}"
                server = ModelServer(ep.name, pv["VariantName"], image, workdir)
                try:
                    host.executor.check(image, "serve")
                    prepare_model_dir(container, workdir)
                    server.start(host.executor, dict(container.get("Environment") or {}), log_group(ep.name))
                except (ExecutorError, aws.S3Error) as exc:
                    raise DeployError(str(exc)) from exc
                started.append(Variant(pv["VariantName"], float(pv.get("InitialVariantWeight", 1.0)), server))
            for variant in started:
                variant.server.wait_ready(host.ping_timeout, cancel)
        except BaseException:
            EndpointRuntime(config.name, started, None).stop()
            raise
        capture = CaptureConfig.from_api(config.request.get("DataCaptureConfig"))
        return EndpointRuntime(config.name, started, capture)

    def _deploy_worker(
        self, ep: Endpoint, config: EndpointConfig, update: bool, cancel: threading.Event
    ) -> None:
        host = self.host
        try:
            runtime = self.build(ep, config, cancel)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DeployError) else f"{type(exc).__name__}: {exc}"
            with host.lock:
                if ep.status == "Deleting":
                    return
                if update:  # the old deployment keeps serving, as on AWS
                    ep.set_status("InService", f"Update to endpoint config {config.name} failed: {reason}")
                else:
                    ep.set_status("Failed", reason)
                host.save(ep)
            return
        with host.lock:
            if ep.status == "Deleting" or host.closing:
                old = runtime
            else:
                old, ep.runtime = ep.runtime, runtime
                if old is not None:
                    old.close()  # in the same step as the swap: later picks go to the new runtime
                ep.config_name = config.name
                ep.variants = describe_variants(host, config)
                ep.capture = describe_capture(config)
                ep.set_status("InService")
                host.save(ep)
        if old is not None:
            old.stop(drain_timeout=DRAIN_TIMEOUT_S)

    def _delete_worker(self, ep: Endpoint, previous: threading.Thread | None) -> None:
        host = self.host
        if previous is not None and previous is not threading.current_thread():
            previous.join(timeout=host.ping_timeout + 30)
        with host.lock:
            runtime, ep.runtime = ep.runtime, None
        if runtime is not None:
            runtime.stop(drain_timeout=5.0)
        # Files first: once DescribeEndpoint says it is gone, nothing of it is left (a client that waits
        # for the deletion and then reuses the name must not meet the old model's folder).
        shutil.rmtree(host.state_dir / "endpoints" / ep.name, ignore_errors=True)
        with host.lock:
            if host.endpoints.get(ep.name) is ep:
                del host.endpoints[ep.name]
                self._cancel.pop(ep.name, None)
            host.forget(ep)


def describe_variants(host: Host, config: EndpointConfig) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants for a deployment of ``config``."""
    now = utcnow()
    out = []
    for pv in config.variants:
        model = host.models.get(pv["ModelName"])
        image = model.container.get("Image", "") if model else ""
        count = int(pv.get("InitialInstanceCount", 1))
        weight = float(pv.get("InitialVariantWeight", 1.0))
        out.append(
            {
                "VariantName": pv["VariantName"],
                "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now}],
                "CurrentWeight": weight,
                "DesiredWeight": weight,
                "CurrentInstanceCount": count,
                "DesiredInstanceCount": count,
            }
        )
    return out


def describe_capture(config: EndpointConfig) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig for a deployment of ``config``."""
    raw = config.request.get("DataCaptureConfig")
    if not raw:
        return None
    enabled = raw.get("EnableCapture", True)
    return {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": raw["InitialSamplingPercentage"],
        "DestinationS3Uri": raw["DestinationS3Uri"],
        # Required in botocore's DataCaptureConfigSummary: "" when no key was given (docs/parity.md).
        "KmsKeyId": raw.get("KmsKeyId", ""),
    }
