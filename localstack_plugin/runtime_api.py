"""A per-environment Lambda Runtime API server, the HTTP interface ``awslambdaric`` polls.

Real Lambda runs the runtime client against this API (``/2018-06-01/runtime/...``). Serving the same API
lets the handler run under the unmodified ``awslambdaric``, so event parsing, the context object, result
marshalling (bytes become strings) and the error body (``errorMessage``/``errorType``/``stackTrace``) are
exactly the real runtime's. One server per process incarnation keeps a killed process's dangling
long-poll from ever taking a later invocation.
"""

from __future__ import annotations

import json
import queue
import re
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .lambda_rules import (
    MAX_RESPONSE_BYTES,
    RESPONSE_TOO_LARGE_MESSAGE,
    RESPONSE_TOO_LARGE_TYPE,
)

API_PREFIX = "/2018-06-01/runtime"
# A synchronous response over AWS's limit (never LocalStack's configurable one) becomes this error, as AWS
# answers it: FunctionError "Unhandled" with this payload (see lambda_rules.MAX_RESPONSE_BYTES).
RESPONSE_TOO_LARGE = json.dumps(
    {"errorMessage": RESPONSE_TOO_LARGE_MESSAGE, "errorType": RESPONSE_TOO_LARGE_TYPE}
).encode()
_RESULT_PATH = re.compile(rf"^{API_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")


@dataclass(frozen=True)
class Invocation:
    """One event for the runtime, with the metadata the Runtime API hands over in headers."""

    request_id: str
    payload: bytes
    function_arn: str
    deadline_ms: int
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None


@dataclass(frozen=True)
class RuntimeResult:
    """What the runtime posted back: the raw body and whether it came on the error route."""

    payload: bytes
    is_error: bool


class RuntimeApi:
    """Serves one runtime process: hands it queued invocations and resolves their futures."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._queue: queue.Queue[Invocation | None] = queue.Queue()
        self._futures: dict[str, Future[RuntimeResult]] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()  # set when the runtime first asks for work (init done) or init failed
        self.init_error: bytes | None = None
        self._server = _Server((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="lambda-runtime-api", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port`` as ``AWS_LAMBDA_RUNTIME_API`` expects it (no scheme)."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def submit(self, invocation: Invocation) -> Future[RuntimeResult]:
        future: Future[RuntimeResult] = Future()
        with self._lock:
            self._futures[invocation.request_id] = future
        self._queue.put(invocation)
        return future

    def close(self) -> None:
        """Stop serving; wakes a long-poll still waiting so its thread ends. Does not block."""
        self._queue.put(None)
        # shutdown() waits for the serve loop's next poll (up to 0.5 s): let a thread do that waiting.
        threading.Thread(target=self._shut_down, name="lambda-runtime-api-close", daemon=True).start()
        with self._lock:
            pending, self._futures = list(self._futures.values()), {}
        for future in pending:
            future.cancel()

    def _shut_down(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # Called from the HTTP handler threads.
    def _next(self) -> Invocation | None:
        self.ready.set()
        item = self._queue.get()
        if item is None:
            self._queue.put(None)  # keep waking any other waiter after close
        return item

    def _resolve(self, request_id: str, result: RuntimeResult) -> bool:
        with self._lock:
            future = self._futures.pop(request_id, None)
        if future is None:
            return False
        future.set_result(result)
        return True

    def _init_failed(self, body: bytes) -> None:
        self.init_error = body
        self.ready.set()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A runtime killed mid-request (timeout, crash) drops its connection: expected, no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls

        def log_message(self, format: str, *args: object) -> None:  # quiet: one line per request is noise
            pass

        def do_GET(self) -> None:
            if self.path != f"{API_PREFIX}/invocation/next":
                self._reply(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown route {self.path}"})
                return
            invocation = api._next()
            if invocation is None:
                self._reply(HTTPStatus.GONE, {"errorMessage": "execution environment shutting down"})
                return
            headers = {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Content-Type": "application/json",
            }
            optional = {
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
                "Lambda-Runtime-Client-Context": invocation.client_context,
                "Lambda-Runtime-Cognito-Identity": invocation.cognito_identity,
            }
            headers.update({k: v for k, v in optional.items() if v})
            self._send(HTTPStatus.OK, invocation.payload, headers)

        def do_POST(self) -> None:
            body = self._body()
            if self.path == f"{API_PREFIX}/init/error":
                api._init_failed(body)
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
                return
            match = _RESULT_PATH.match(self.path)
            if match is None:
                self._reply(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown route {self.path}"})
                return
            result = RuntimeResult(payload=body, is_error=match["kind"] == "error")
            too_large = match["kind"] == "response" and len(body) > MAX_RESPONSE_BYTES
            if too_large:
                result = RuntimeResult(payload=RESPONSE_TOO_LARGE, is_error=True)
            # An oversized response is accepted from the runtime: AWS's Runtime API answers it 413, on which
            # awslambdaric exits and Lambda starts a new environment for the next call. Here the environment
            # (environment.py) would see the exit only after the next call was already handed to the dying
            # process, so the runtime carries on instead; the caller gets AWS's error either way.
            if api._resolve(match["id"], result):
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            else:
                self._reply(HTTPStatus.BAD_REQUEST, {"errorMessage": f"unknown request id {match['id']}"})

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: HTTPStatus, document: dict[str, str]) -> None:
            self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

        def _send(self, status: HTTPStatus, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
