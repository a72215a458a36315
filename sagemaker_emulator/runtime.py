"""InvokeEndpoint's work: find the endpoint's live runtime, route to a variant's model server, capture.

``responses.py`` maps HTTP to and from :meth:`Invoker.invoke`; this module knows nothing of
Starlette. Routing counts the request on the chosen server in the same step as the pick
(``EndpointRuntime.acquire``), so an UpdateEndpoint's drain waits for it; a request that looked up
a runtime just as it was swapped out looks up the new one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sagemaker_emulator import protocol
from sagemaker_emulator.backend import SageMakerBackend
from sagemaker_emulator.capture import Invocation
from sagemaker_emulator.errors import ModelError, ServiceUnavailable, ValidationError
from sagemaker_emulator.faults import error_for
from sagemaker_emulator.hosting import EndpointRuntime, Lease, RuntimeClosed, log_group
from sagemaker_emulator.proxy import HttpPool, ProxyError, ProxyTimeout

INVOKE_TIMEOUT_S = 60.0  # the container response time limit on AWS
BOOT_WAIT_S = 60.0  # how long an invocation waits for an endpoint that is coming back after a restart
FORWARDED = ("content-type", "accept", "x-amzn-sagemaker-custom-attributes")


@dataclass
class InvokeResult:
    body: bytes
    headers: dict[str, str]


class Invoker:
    """Routes invocations of one backend's endpoints; ``open()``/``aclose()`` run in the app's lifespan."""

    def __init__(self, backend: SageMakerBackend, boot_wait: float = BOOT_WAIT_S):
        self.backend = backend
        self.boot_wait = boot_wait
        self.pool: HttpPool | None = None

    def open(self) -> None:
        self.pool = HttpPool(timeout=INVOKE_TIMEOUT_S)

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def _ready_runtime(self, name: str) -> EndpointRuntime:
        _ep, runtime = self.backend.runtime_for(name)
        if runtime is None or not runtime.ready():
            deadline = time.monotonic() + self.boot_wait
            while (runtime is None or not runtime.ready()) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                _ep, runtime = self.backend.runtime_for(name)
            if runtime is None or not runtime.ready():
                raise ServiceUnavailable(f"Endpoint {name} is starting; try again shortly.")
        return runtime

    async def _acquire(self, name: str, target: str | None) -> tuple[EndpointRuntime, Lease]:
        while True:
            runtime = await self._ready_runtime(name)
            try:
                lease = runtime.acquire(target)
            except RuntimeClosed:
                await asyncio.sleep(0)  # swapped out just now: the new runtime is already in place
                continue
            if lease is None:
                raise ValidationError(f"The variant {target} does not exist for endpoint {name}.")
            return runtime, lease

    async def invoke(self, name: str, body: bytes, headers: Any) -> InvokeResult:
        """``headers``: the request's headers (a case-insensitive mapping); AwsError on failure."""
        assert self.pool is not None, "Invoker.open() was not called"
        protocol.validate_invoke(name, headers)
        fault = self.backend.faults.for_invocation(name)
        if fault is not None:  # before the model: a failed invocation is not captured, as on AWS
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.error is not None:
                raise error_for(fault, name, self.model_error)
        runtime, lease = await self._acquire(name, headers.get("x-amzn-sagemaker-target-variant"))
        variant = lease.variant
        forward = {k: v for k in FORWARDED if (v := headers.get(k)) is not None}
        try:
            resp = await self.pool.post("127.0.0.1", lease.server.port, "/invocations", body, forward)
        except ProxyTimeout as exc:
            raise self.model_error(
                name, 0, "Your invocation timed out while waiting for a response from container primary."
            ) from exc
        except ProxyError as exc:
            self.backend.health.suspect(name)  # a dead server is replaced now, not at the next check
            raise self.model_error(name, 0, f"Could not reach container primary: {exc}") from exc
        finally:
            runtime.release(lease)
        if not 200 <= resp.status < 300:
            raise self.model_error(name, resp.status, resp.text)
        out_type = resp.headers.get("content-type", "application/json")
        out_headers = {"content-type": out_type, "x-amzn-invoked-production-variant": variant.name}
        if "x-amzn-sagemaker-custom-attributes" in resp.headers:
            out_headers["x-amzn-sagemaker-custom-attributes"] = resp.headers[
                "x-amzn-sagemaker-custom-attributes"
            ]
        capture = runtime.capture
        if capture is not None and capture.sampled():
            self.backend.capture.submit(
                Invocation(
                    endpoint=name,
                    variant=variant.name,
                    config=capture,
                    input_body=body,
                    input_type=headers.get("content-type", "application/octet-stream"),
                    output_body=resp.body,
                    output_type=out_type,
                    inference_id=headers.get("x-amzn-sagemaker-inference-id"),
                    time=dt.datetime.now(dt.UTC),
                )
            )
        return InvokeResult(resp.body, out_headers)

    def model_error(self, name: str, status: int, message: str) -> ModelError:
        """ModelError as the runtime service words it, pointing at the endpoint's log group."""
        region, account = self.backend.region, self.backend.account_id
        group = log_group(name)
        kind = "client" if 400 <= status < 500 else "server"
        return ModelError(
            f'Received {kind} error ({status}) from primary with message "{message}". See '
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={group} "
            f"in account {account} for more information.",
            OriginalStatusCode=status,
            OriginalMessage=message,
            LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
        )
