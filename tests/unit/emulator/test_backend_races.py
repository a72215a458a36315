"""The backend in-process against a fake executor: races between control-plane calls and hosting work.

Each test holds a fake model server at a chosen point (ping not yet answered, a request in
flight) and waits on readiness signals (a run started, a worker thread joined), never on sleeps,
so the interleavings are the same on every run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from sagemaker_emulator.backend import SageMakerBackend
from sagemaker_emulator.errors import ValidationException
from sagemaker_emulator.hosting import RuntimeClosed
from sagemaker_emulator.responses import create_app
from sagemaker_emulator.runtime import Invoker
from tests.unit.emulator.fakes import FakeExecutor


@pytest.fixture
def executor() -> Iterator[FakeExecutor]:
    ex = FakeExecutor()
    yield ex
    ex.stop_all()


@pytest.fixture
def backend(tmp_path: Path, executor: FakeExecutor) -> Iterator[SageMakerBackend]:
    # No background health checks here: the tests below call them when they want them.
    b = SageMakerBackend(
        tmp_path / "state", executor, ping_timeout=20, capture_flush_interval=0.2, health_interval=0
    )
    b.start()
    yield b
    b.shutdown()


def add_config(b: SageMakerBackend, name: str) -> str:
    b.create_model({"ModelName": f"{name}-model", "PrimaryContainer": {"Image": "fake:1"}})
    b.create_endpoint_config(
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": f"{name}-model", "InitialInstanceCount": 1}
            ],
        }
    )
    return name


def until(predicate: Any, timeout: float = 10.0) -> None:
    """Wait for a state the backend reaches on its own thread (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def in_service(b: SageMakerBackend, name: str, config: str) -> None:
    b.create_endpoint({"EndpointName": name, "EndpointConfigName": add_config(b, config)})
    b.endpoints[name].worker.join(10)
    assert b.describe_endpoint({"EndpointName": name})["EndpointStatus"] == "InService"


def test_delete_during_deploy_cancels_the_ping_wait_and_stops_the_server(backend, executor):
    executor.ping_open = False  # the model server never becomes healthy on its own
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c1")})
    (run,) = executor.wait_for_runs(1)  # the deployment is now waiting for /ping
    backend.delete_endpoint({"EndpointName": "ep"})
    assert backend.describe_endpoint({"EndpointName": "ep"})["EndpointStatus"] == "Deleting"
    worker = backend.endpoints["ep"].worker
    worker.join(5)  # without cancellation this waits for the 20 s ping timeout
    assert not worker.is_alive()
    assert "ep" not in backend.endpoints
    assert run.stopped.is_set()
    with pytest.raises(ValidationException, match="Could not find endpoint"):
        backend.describe_endpoint({"EndpointName": "ep"})
    assert not (backend.state_dir / "endpoints" / "ep").exists()
    assert not (backend.state_dir / "resources" / "endpoints" / "ep.json").exists()


def test_a_deployment_that_passes_ping_after_delete_never_goes_in_service(backend, executor):
    executor.ping_open = False
    backend.create_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c1")})
    (run,) = executor.wait_for_runs(1)
    with backend.lock:  # delete and the ping answering at the same moment
        backend.delete_endpoint({"EndpointName": "ep"})
        run.ping_gate.set()
        worker = backend.endpoints["ep"].worker
    worker.join(5)
    assert "ep" not in backend.endpoints and run.stopped.is_set()


def test_update_drains_a_counted_request_and_a_late_pick_goes_to_the_new_runtime(backend, executor):
    in_service(backend, "ep", "c1")
    ep = backend.endpoints["ep"]
    old = ep.runtime
    (run_a,) = executor.runs
    held = old.acquire(None)  # a request picked server A and is counted on it
    backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c2")})
    executor.wait_for_runs(2)
    until(lambda: ep.runtime is not old and ep.status == "InService")
    assert ep.config_name == "c2"
    # The swap closed A: a request that looked A up just before the swap is turned to the new runtime.
    with pytest.raises(RuntimeClosed):
        old.acquire(None)
    assert ep.worker.is_alive() and not run_a.stopped.is_set()  # draining, the request still runs
    old.release(held)
    ep.worker.join(5)
    assert run_a.stopped.is_set()
    assert not executor.runs[1].stopped.is_set()


def test_update_during_drain_is_accepted_and_every_replaced_runtime_stops(backend, executor):
    in_service(backend, "ep", "c1")
    ep = backend.endpoints["ep"]
    first = ep.runtime
    held = first.acquire(None)
    backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c2")})
    until(lambda: ep.runtime is not first and ep.status == "InService")
    draining = ep.worker
    second = ep.runtime
    backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c3")})
    until(lambda: ep.runtime is not second and ep.status == "InService")
    ep.worker.join(5)
    run_a, run_b, run_c = executor.wait_for_runs(3)
    assert run_b.stopped.is_set() and not run_a.stopped.is_set() and not run_c.stopped.is_set()
    first.release(held)
    draining.join(5)
    assert run_a.stopped.is_set() and not run_c.stopped.is_set()
    assert backend.describe_endpoint({"EndpointName": "ep"})["EndpointConfigName"] == "c3"


def test_update_while_updating_is_refused_as_aws_does(backend, executor):
    in_service(backend, "ep", "c1")
    executor.ping_open = False
    backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c2")})
    executor.wait_for_runs(2)
    with pytest.raises(ValidationException, match="Cannot update in-progress endpoint"):
        backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": "c1"})
    executor.runs[1].ping_gate.set()
    backend.endpoints["ep"].worker.join(5)
    assert backend.describe_endpoint({"EndpointName": "ep"})["EndpointConfigName"] == "c2"


def test_the_swap_itself_closes_the_old_runtime_before_its_drain_starts(backend, executor):
    in_service(backend, "ep", "c1")
    ep = backend.endpoints["ep"]
    old = ep.runtime
    real_stop, proceed = old.stop, threading.Event()

    def held_stop(drain_timeout: float = 0.0) -> None:  # the worker reaches the drain and waits here
        proceed.wait(10)
        real_stop(drain_timeout)

    old.stop = held_stop  # type: ignore[method-assign]
    backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c2")})
    until(lambda: ep.runtime is not old and ep.status == "InService")
    with pytest.raises(RuntimeClosed):  # closed by the swap, not by the (held) drain
        old.acquire(None)
    proceed.set()
    ep.worker.join(5)
    assert executor.runs[0].stopped.is_set()


def test_invoker_retries_a_runtime_swapped_out_between_lookup_and_pick(backend, executor):
    in_service(backend, "ep", "c1")
    ep = backend.endpoints["ep"]
    stale = ep.runtime
    backend.update_endpoint({"EndpointName": "ep", "EndpointConfigName": add_config(backend, "c2")})
    until(lambda: ep.runtime is not stale and ep.status == "InService")
    real = backend.runtime_for
    lookups: list[int] = []

    def first_stale(name: str) -> Any:  # the lookup happened before the swap, the pick after it
        lookups.append(1)
        return (ep, stale) if len(lookups) == 1 else real(name)

    backend.runtime_for = first_stale  # type: ignore[method-assign]
    invoker = Invoker(backend)

    async def call() -> Any:
        invoker.open()
        try:
            return await invoker.invoke("ep", b"{}", {"content-type": "application/json"})
        finally:
            await invoker.aclose()

    result = asyncio.run(call())
    assert len(lookups) == 2
    assert executor.runs[1].spec.name in result.body.decode()


def test_a_blocked_control_plane_call_does_not_hold_up_invocations(backend, executor, monkeypatch):
    in_service(backend, "ep", "c1")
    release = threading.Event()
    entered = threading.Event()
    real = backend.list_models

    def slow_list_models(params: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(20)
        return real(params)

    backend.list_models = slow_list_models  # type: ignore[method-assign]
    app = create_app(backend)
    # Started by the fixture, which also shuts it down: the app's lifespan must do neither.
    monkeypatch.setattr(backend, "start", lambda: None)
    monkeypatch.setattr(backend, "shutdown", lambda: None)
    with TestClient(app) as client:
        results: dict[str, Any] = {}

        def control() -> None:
            results["list"] = client.post(
                "/",
                content=b"{}",
                headers={
                    "x-amz-target": "SageMaker.ListModels",
                    "content-type": "application/x-amz-json-1.1",
                },
            )

        thread = threading.Thread(target=control)
        thread.start()
        assert entered.wait(10)
        started = time.monotonic()
        resp = client.post(
            "/endpoints/ep/invocations", content=b'{"x": 1}', headers={"content-type": "application/json"}
        )
        took = time.monotonic() - started
        release.set()
        thread.join(10)
    assert resp.status_code == 200, resp.text
    assert took < 10  # answered while ListModels was still blocked
    assert results["list"].status_code == 200 and "Models" in results["list"].json()


def test_a_dead_model_server_is_replaced_and_the_endpoint_says_so(backend, executor):
    in_service(backend, "ep", "c1")
    ep = backend.endpoints["ep"]
    runtime = ep.runtime
    (run_a,) = executor.runs
    run_a.crash(-9)
    executor.ping_open = False  # hold the replacement before its first good ping
    checker = threading.Thread(target=backend.health.check_all)
    checker.start()
    (_, run_b) = executor.wait_for_runs(2)
    described = backend.describe_endpoint({"EndpointName": "ep"})
    assert described["EndpointStatus"] == "SystemUpdating"
    (status,) = described["ProductionVariants"][0]["VariantStatus"]
    assert status["Status"] == "Updating"
    assert "Replacing an unhealthy instance of production variant AllTraffic" in status["StatusMessage"]
    assert "exited with code -9" in status["StatusMessage"]
    run_b.ping_gate.set()
    checker.join(10)
    described = backend.describe_endpoint({"EndpointName": "ep"})
    assert described["EndpointStatus"] == "InService" and described["FailureReason"] is None
    assert "VariantStatus" not in described["ProductionVariants"][0]
    assert ep.runtime is runtime and runtime.variants[0].server.run is run_b
    (event,) = backend.health.replacements
    assert event["Outcome"] == "replaced" and event["VariantName"] == "AllTraffic"
    assert ep.events[-1]["Reason"] == "the model server exited with code -9"
    lease = runtime.acquire(None)
    assert lease is not None and lease.server.run is run_b
    runtime.release(lease)


def test_a_server_that_stops_answering_ping_is_replaced_after_three_checks(backend, executor):
    in_service(backend, "ep", "c1")
    (run_a,) = executor.runs
    run_a.ping_gate.clear()  # alive, but /ping answers 503
    backend.health.check_all()
    backend.health.check_all()
    assert len(executor.runs) == 1 and not backend.health.replacements
    backend.health.check_all()
    assert len(executor.runs) == 2 and run_a.stopped.is_set()
    assert backend.health.replacements[0]["Reason"] == "no 200 from /ping in 3 checks in a row"
