"""A newcomer's target: its own module (here, this file's class) plus one registry line, and the harness's
commands run against it unchanged. The place is a moto server on 127.0.0.1 (moto.server.ThreadedMotoServer):
one endpoint for every service, as an emulated cloud has; nothing in harness/ knows its name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import boto3
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from harness import names
from harness.checks import FAIL, OK, Check
from harness.config import Settings
from harness.embedded.process import free_port
from harness.main import app
from harness.targets import registry
from harness.targets.base import Capabilities, Log, Target, TargetError
from harness.teardown import teardown

if TYPE_CHECKING:
    from rich.console import Console

runner = CliRunner()


class MotoServerTarget(Target):
    """The whole of a new target: where calls go (one URL), what it can do, and its lifecycle."""

    name: ClassVar[str] = "moto"
    capabilities: ClassVar[Capabilities] = Capabilities()  # emulated; no fault API, no mocks, no containers
    unreachable_hint: ClassVar[str] = "is the moto server up?"
    url: ClassVar[str] = ""  # where the fixture started it

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        return cls(settings=settings, main_url=cls.url)

    def bring_up(self, console: Console | None = None) -> None:
        try:
            self.client("s3").list_buckets()
        except Exception as exc:
            raise TargetError(f"moto does not answer at {self.main_url}") from exc

    def checks(self, create_role: bool = False) -> list[Check]:
        try:
            self.bring_up()
        except TargetError as exc:
            return [Check("moto", FAIL, str(exc), self.unreachable_hint)]
        return [Check("moto", OK, f"answers at {self.main_url}")]

    def tear_down(self, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False) -> None:
        teardown(self, delete_data, log=log)


@pytest.fixture
def moto_target(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setattr(MotoServerTarget, "url", f"http://127.0.0.1:{port}")
    monkeypatch.setitem(registry.TARGETS, MotoServerTarget.name, MotoServerTarget)  # the one registry line
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    try:
        yield MotoServerTarget.url
    finally:
        server.stop()


def test_stage_deploy_doctor_and_down_run_against_a_new_target(
    moto_target: str, small_tarball: Path, tmp_path: Path
) -> None:
    common = ["--target", "moto", "--bucket", "newcomer", "--home", str(tmp_path / "home")]
    staged = runner.invoke(app, [*common, "stage", "--dataset", str(small_tarball)])
    assert staged.exit_code == 0, staged.output
    deployed = runner.invoke(app, [*common, "deploy"])
    assert deployed.exit_code == 0, deployed.output

    # Everything went to the moto server, through the target's one URL and dummy credentials.
    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=moto_target,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    keys = {o["Key"] for o in client("s3").list_objects_v2(Bucket="newcomer")["Contents"]}
    assert {"train.lst", "test.lst"} <= keys
    functions = {f["FunctionName"] for f in client("lambda").list_functions()["Functions"]}
    assert set(names.FUNCTIONS) <= functions
    machines = {m["name"] for m in client("stepfunctions").list_state_machines()["stateMachines"]}
    assert {names.STATE_MACHINE, names.PIPELINE_STATE_MACHINE} <= machines

    doctor = runner.invoke(app, [*common, "doctor", "--json"])
    assert doctor.exit_code == 0 and f"answers at {moto_target}" in doctor.stdout, doctor.output
    down = runner.invoke(app, [*common, "down"])
    assert down.exit_code == 0, down.output
    assert client("lambda").list_functions()["Functions"] == []
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []


def test_a_new_target_is_refused_where_it_lacks_a_capability(moto_target: str) -> None:
    refused = runner.invoke(app, ["--target", "moto", "sfn-test"])
    assert refused.exit_code == 1 and "sfn-test runs on the embedded target" in refused.output
