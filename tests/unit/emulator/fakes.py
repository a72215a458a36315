"""An in-process executor for the backend's own tests: model servers are HTTP servers on threads.

Real sockets and real HTTP (the backend pings and proxies them as it would a container), but no
subprocess, so a test holds a server at a chosen point (``ping_gate``, ``invoke_gate``) and the
races between control-plane calls and hosting work are reproduced deterministically.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sagemaker_emulator.executors import RunSpec


class FakeRun:
    """One fake container: /ping answers 200 once ``ping_gate`` is set; /invocations echoes."""

    def __init__(self, spec: RunSpec, ping_open: bool, invoke_open: bool):
        self.spec = spec
        self.pid: int | None = None
        self.started: str | None = None
        self.ping_gate = threading.Event()
        self.invoke_gate = threading.Event()
        self.invoking = threading.Event()  # set while an invocation waits at invoke_gate
        self.stopped = threading.Event()
        self.code: int | None = None
        if ping_open:
            self.ping_gate.set()
        if invoke_open:
            self.invoke_gate.set()
        run = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                ok = self.path == "/ping" and run.ping_gate.is_set()
                self.send_response(200 if ok else 503)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                run.invoking.set()
                run.invoke_gate.wait(30)
                out = json.dumps({"name": run.spec.name, "echo": body.decode()}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        assert spec.port is not None
        self.server = ThreadingHTTPServer(("127.0.0.1", spec.port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def lines(self) -> Iterator[str]:
        self.stopped.wait()
        return iter(())

    def poll(self) -> int | None:
        return self.code

    def wait(self, timeout: float | None = None) -> int | None:
        self.stopped.wait(timeout)
        return self.code

    def stop(self, grace: float) -> int | None:
        if not self.stopped.is_set():
            self.invoke_gate.set()
            self.server.shutdown()
            self.server.server_close()
            self.code = 0
            self.stopped.set()
        return self.code

    def crash(self, code: int = -9) -> None:
        """What kill -9 of the container does: the port closes and the exit code is there."""
        self.server.shutdown()
        self.server.server_close()
        self.code = code
        self.stopped.set()


class FakeExecutor:
    """Serve-mode only; ``started`` is notified for each new run, so tests wait for it, not sleep."""

    name = "fake"

    def __init__(self, ping_open: bool = True, invoke_open: bool = True):
        self.ping_open, self.invoke_open = ping_open, invoke_open
        self.runs: list[FakeRun] = []
        self.started = threading.Condition()

    def check(self, image: str, mode: str) -> None:
        pass

    def start(self, spec: RunSpec) -> FakeRun:
        run = FakeRun(spec, self.ping_open, self.invoke_open)
        with self.started:
            self.runs.append(run)
            self.started.notify_all()
        return run

    def wait_for_runs(self, count: int, timeout: float = 10.0) -> list[FakeRun]:
        with self.started:
            if not self.started.wait_for(lambda: len(self.runs) >= count, timeout):
                raise AssertionError(f"{count} runs expected, {len(self.runs)} started")
            return list(self.runs)

    def stop_all(self) -> None:
        for run in self.runs:
            run.stop(0)
