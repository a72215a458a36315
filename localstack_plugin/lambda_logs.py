"""What the Lambda service writes around a runtime's own output, and how that output is collected.

``INIT_START`` on a cold start, ``START``/``END``/``REPORT`` around each invocation, AWS's wording for a
runtime that exits, and :class:`_Output`, which hands each invocation exactly its own lines. Shared by
the local process and the container environments (:mod:`.environment`, :mod:`.container_environment`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import select
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import sandbox

if TYPE_CHECKING:
    from .environment import FunctionSpec

_MAX_KEPT_LOG_CHARS = 256 * 1024


class _Output:
    """Collects a process's combined stdout/stderr so each invocation gets exactly its own lines.

    The runtime writes its output before it posts the result, so once the result has arrived,
    reading whatever is already in the pipe yields all of that invocation's output: no sleeps.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._history: list[str] = []
        self._history_chars = 0
        self._fd: int | None = None

    def attach(self, stream: object) -> None:
        fd = stream.fileno()  # type: ignore[attr-defined]
        os.set_blocking(fd, False)
        with self._lock:
            self._fd = fd
        threading.Thread(target=self._pump, args=(fd, stream), name="lambda-output", daemon=True).start()

    def _pump(self, fd: int, stream: object) -> None:
        # poll(), not select(): select() refuses descriptors past FD_SETSIZE (1024), and LocalStack
        # holds more than that with a few hundred executions in flight. When it did, this thread died,
        # closed the pipe (the runtime's next print was a BrokenPipeError: "exit status 1") and left
        # ``_fd`` naming a number the process soon reused for a socket, which ``drain`` then blocked on.
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        try:
            while True:
                poller.poll(500)
                with self._lock:
                    if self._fd != fd:
                        return
                    if self._read(fd) is None:
                        self._fd = None
                        return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                if self._fd == fd:  # never leave a closed descriptor's number behind
                    self._fd = None
            stream.close()  # type: ignore[attr-defined]

    def _read(self, fd: int) -> int | None:
        """Read what is available; ``None`` at end of file. Caller holds the lock."""
        total = 0
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return total
            if not chunk:
                return None
            text = chunk.decode("utf-8", errors="replace")
            self._pending.append(text)
            self._history.append(text)
            self._history_chars += len(text)
            while self._history_chars > _MAX_KEPT_LOG_CHARS and len(self._history) > 1:
                self._history_chars -= len(self._history.pop(0))
            total += len(chunk)

    def drain(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    if self._read(self._fd) is None:
                        self._fd = None
                except OSError:
                    self._fd = None

    def take(self) -> str:
        self.drain()
        with self._lock:
            text, self._pending = "".join(self._pending), []
        return text

    def history(self) -> str:
        with self._lock:
            return "".join(self._history)


_SIGNALS = {9: "killed", 11: "segmentation fault", 6: "aborted", 15: "terminated"}


def _exit_error(request_id: str, code: int | None) -> bytes:
    """AWS's words (its Go runtime's): ``exit status 1``, ``signal: killed``; a clean exit (``sys.exit(0)``)
    is ``Runtime exited without providing a reason`` (recorded on AWS: LocalStack's
    tests/aws/services/lambda_/test_lambda.snapshot.json, TestLambdaErrors::test_lambda_runtime_exit)."""
    if code == 0:
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
        return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
    if code is not None and code >= 0:
        reason = f"exit status {code}"
    else:
        reason = f"signal: {_SIGNALS.get(-(code or 0), str(-(code or 0)))}"
    message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()


def _init_start(spec: FunctionSpec, missing: Sequence[str]) -> str:
    """The cold start's first log lines: AWS's ``INIT_START`` (recorded on AWS: LocalStack's
    tests/aws/services/lambda_/test_lambda.snapshot.json, ``INIT_START Runtime Version: python:3.10.v11\t
    Runtime Version ARN: ...``), then, where the OS refused the sandbox, which guarantees are missing."""
    runtime = spec.env.get("AWS_EXECUTION_ENV", "").removeprefix("AWS_Lambda_")
    lines = ""
    if runtime.startswith("python"):
        label = "python:" + runtime.removeprefix("python")
        region = spec.env.get("AWS_REGION", "us-east-1")
        digest = hashlib.sha256(label.encode()).hexdigest()
        arn = f"arn:aws:lambda:{region}::runtime:{digest}"
        lines = f"INIT_START Runtime Version: {label}.v1\tRuntime Version ARN: {arn}\n"
    if missing:
        reason = sandbox.isolation().reason
        lines += f"{_timestamp()} WARNING local sandbox ({reason}): missing {'; '.join(missing)}\n"
    return lines


def _frame(
    request_id: str,
    spec: FunctionSpec,
    body: str,
    duration_ms: float,
    init_ms: float | None,
    status: str | None = None,
    max_memory: int | None = None,
    error_type: str | None = None,
) -> str:
    """Wrap an invocation's output in the ``START``/``END``/``REPORT`` lines the Lambda service writes."""
    if spec.warning:
        body = f"{_timestamp()} WARNING {spec.warning}\n{body}"
    if body and not body.endswith("\n"):
        body += "\n"
    report = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
        f"Memory Size: {spec.memory_mb} MB",
        f"Max Memory Used: {max_memory or 0} MB",
    ]
    if init_ms is not None:
        report.append(f"Init Duration: {init_ms:.2f} ms")
    if status:
        report.append(f"Status: {status}")
    if error_type:
        report.append(f"Error Type: {error_type}")
    return (
        f"START RequestId: {request_id} Version: {spec.version}\n"
        f"{body}"
        f"END RequestId: {request_id}\n" + "\t".join(report) + "\n"
    )


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
