"""Health checks of live endpoints' model servers, and replacement of a dead one.

SageMaker health-checks each instance behind an endpoint (``GET /ping``) and replaces one that
fails; the endpoint stays up. Here a :class:`HealthMonitor` thread checks every InService
endpoint's servers each ``interval`` seconds (at once when an invocation could not reach one): a
server whose process has exited, or that failed ``ping_failures`` pings in a row, is replaced by
a new server over the same model folder. Meanwhile the endpoint is ``SystemUpdating`` and its
variant's ``VariantStatus`` says why; the emulator's log and the endpoint's CloudWatch log group
record it, and so does ``GET /_emulator/health`` (``replacements``). Requests already sent to the
dead server fail with ModelError, as on AWS; the replacement takes traffic once it answers /ping.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from typing import Any

from sagemaker_emulator.executors import ExecutorError
from sagemaker_emulator.hosting import DeployError, EndpointRuntime, Host, ModelServer, Variant
from sagemaker_emulator.resources import Endpoint, utcnow

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0
PING_FAILURES = 3
HEALTH_PING_TIMEOUT_S = 2.0


class HealthMonitor:
    """One thread for all endpoints of a backend; ``suspect()`` asks for a check now."""

    def __init__(self, host: Host, interval: float = HEALTH_INTERVAL_S, ping_failures: int = PING_FAILURES):
        self.host = host
        self.interval = interval
        self.ping_failures = ping_failures
        self.replacements: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-monitor", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.host.ping_timeout + 10)

    def suspect(self, _endpoint: str) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check_all()
            except Exception:  # the monitor must outlive any one bad check
                log.exception("health check failed")

    def check_all(self) -> None:
        """Check every InService endpoint's servers once; replace the unhealthy ones (blocking)."""
        with self.host.lock:
            live = [
                (ep, ep.runtime)
                for ep in self.host.endpoints.values()
                if ep.status == "InService" and ep.runtime is not None and ep.runtime.ready()
            ]
        for ep, runtime in live:
            assert runtime is not None
            for variant in list(runtime.variants):
                why = self._unhealthy(variant.server)
                if why is not None and not self._stop.is_set():
                    self.replace(ep, runtime, variant, why)

    def _unhealthy(self, server: ModelServer) -> str | None:
        if server.run is None:
            return None
        code = server.run.poll()
        if code is not None:
            return f"the model server exited with code {code}"
        try:
            with urllib.request.urlopen(server.url + "/ping", timeout=HEALTH_PING_TIMEOUT_S) as resp:
                ok = resp.status == 200
        except (urllib.error.URLError, OSError):
            ok = False
        server.ping_failures = 0 if ok else server.ping_failures + 1
        if server.ping_failures >= self.ping_failures:
            return f"no 200 from /ping in {server.ping_failures} checks in a row"
        return None

    def replace(self, ep: Endpoint, runtime: EndpointRuntime, variant: Variant, why: str) -> bool:
        """Start a new server for ``variant``, route to it once it answers /ping, stop the old one."""
        host = self.host
        old = variant.server
        message = f"Replacing an unhealthy instance of production variant {variant.name}: {why}."
        started = utcnow()
        with host.lock:
            if ep.runtime is not runtime or ep.status != "InService":
                return False
            ep.set_status("SystemUpdating")
            _set_variant_status(
                ep, variant.name, {"Status": "Updating", "StatusMessage": message, "StartTime": started}
            )
            host.save(ep)
        log.warning("endpoint %s: %s", ep.name, message)
        new = old.replacement()
        outcome = "replaced"
        try:
            new.start(host.executor, old.env, old.log_group)
            if new.sink is not None:
                new.sink.write(message)
            new.wait_ready(host.ping_timeout)
            if not runtime.replace_server(variant, new):
                outcome = "endpoint changed meanwhile"
        except (DeployError, ExecutorError) as exc:
            outcome = f"replacement failed: {exc}"
        if outcome != "replaced":
            new.stop()
        old.stop()  # already dead: ends what is left of it and closes its log stream
        finished = utcnow()
        record = {
            "EndpointName": ep.name,
            "VariantName": variant.name,
            "Reason": why,
            "Outcome": outcome,
            "StartTime": started,
            "EndTime": finished,
            "Seconds": round((finished - started).total_seconds(), 3),
        }
        self.replacements.append(record)
        log.warning(
            "endpoint %s: instance of %s %s in %.2f s", ep.name, variant.name, outcome, record["Seconds"]
        )
        with host.lock:
            ep.events = [*ep.events[-19:], record]
            _set_variant_status(ep, variant.name, None)
            if ep.status == "SystemUpdating" and ep.runtime is runtime:
                ep.set_status("InService", None if outcome == "replaced" else f"{message} {outcome}")
            host.save(ep)
        return outcome == "replaced"


def _set_variant_status(ep: Endpoint, variant: str, status: dict[str, Any] | None) -> None:
    for pv in ep.variants:
        if pv.get("VariantName") == variant:
            if status is None:
                pv.pop("VariantStatus", None)
            else:
                pv["VariantStatus"] = [status]
