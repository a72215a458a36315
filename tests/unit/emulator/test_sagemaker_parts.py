"""The SageMaker emulator's parts on their own: wire validation, the image map, the docker executor."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sagemaker

from sagemaker_emulator import protocol
from sagemaker_emulator.capture import CaptureConfig, capture_key, encode_payload
from sagemaker_emulator.errors import (
    SerializationException,
    UnknownOperationException,
    ValidationException,
)
from sagemaker_emulator.executors import DockerExecutor, ExecutorError, ProcessExecutor, RunSpec
from sagemaker_emulator.images import BUILTIN_IMAGE_CLASSIFICATION, ImageMap, ImageMapError


# ---------------------------------------------------------------- protocol
def test_target_header_selects_the_operation():
    assert protocol.operation_for_target("SageMaker.CreateEndpoint").name == "CreateEndpoint"
    for bad in (None, "SageMaker.NoSuchOperation", "DynamoDB_20120810.ListTables"):
        with pytest.raises(UnknownOperationException):
            protocol.operation_for_target(bad)


def test_requests_are_decoded_and_validated_with_the_service_model():
    op = protocol.operation_for_target("SageMaker.ListEndpoints")
    params = protocol.parse_request(op, b'{"CreationTimeAfter": 1700000000.5, "MaxResults": 5}')
    assert params["CreationTimeAfter"] == dt.datetime.fromtimestamp(1700000000.5, tz=dt.UTC)
    with pytest.raises(SerializationException):
        protocol.parse_request(op, b"{not json")
    # A wrong JSON type is AWS's SerializationException, not botocore's client-side wording.
    with pytest.raises(SerializationException, match="STRING_VALUE can not be converted to an Integer"):
        protocol.parse_request(op, b'{"MaxResults": "five"}')
    with pytest.raises(ValidationException, match="Member must have value less than or equal to 100"):
        protocol.parse_request(op, b'{"MaxResults": 1000}')
    with pytest.raises(ValidationException, match="Member must satisfy enum value set"):
        protocol.parse_request(op, b'{"StatusEquals": "Sleeping"}')
    create = protocol.operation_for_target("SageMaker.CreateEndpoint")
    with pytest.raises(
        ValidationException,
        match="Value null at 'endpointConfigName' failed to satisfy constraint: Member must not be null",
    ):
        protocol.parse_request(create, b'{"EndpointName": "ok"}')
    with pytest.raises(ValidationException, match="3 validation errors detected"):
        protocol.parse_request(
            create, json.dumps({"EndpointName": "a_b", "EndpointConfigName": "x" * 64}).encode()
        )


def test_errors_have_the_wire_shape_botocore_parses():
    status, headers, body = protocol.json_error(ValidationException("nope"), "rid-1")
    assert status == 400 and headers["x-amzn-requestid"] == "rid-1"
    assert json.loads(body) == {"__type": "ValidationException", "message": "nope"}
    assert (
        protocol.serialize_response({"A": None, "T": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)})
        == b'{"T":1577836800.0}'
    )


# ---------------------------------------------------------------- image map
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"])
def test_the_harness_map_sends_the_builtin_image_of_any_region_to_the_project_trainer(region):
    # The emulator maps no image itself; `harness up` passes this file (harness/embedded/stack.py).
    from harness.embedded.stack import SAGEMAKER_IMAGE_MAP

    uri = sagemaker.image_uris.retrieve("image-classification", region)
    imap = ImageMap.load(SAGEMAKER_IMAGE_MAP)
    train, serve = imap.resolve(uri, "train"), imap.resolve(uri, "serve")
    assert train is not None and train.argv[1:] == ["-m", "training.train"]
    assert serve is not None and serve.argv[1:] == ["-m", "training.serve"]
    assert json.loads(SAGEMAKER_IMAGE_MAP.read_text())[0]["image"] == BUILTIN_IMAGE_CLASSIFICATION


def test_the_emulator_knows_no_project_image_without_a_map():
    uri = sagemaker.image_uris.retrieve("image-classification", "us-east-1")
    assert ImageMap().resolve(uri, "train") is None
    assert ImageMap.load(None).resolve(uri, "serve") is None
    with pytest.raises(ExecutorError, match="has no local 'train' command"):
        ProcessExecutor(ImageMap()).check(uri, "train")


def test_image_map_file_overrides_and_errors(tmp_path: Path):
    path = tmp_path / "map.json"
    path.write_text(
        json.dumps([{"image": r"my/img(:.*)?", "train": ["{python}", "t.py"], "env": {"K": "V"}}])
    )
    imap = ImageMap.load(path)
    cmd = imap.resolve("my/img:3", "train")
    assert cmd is not None and cmd.argv[1:] == ["t.py"] and cmd.env == {"K": "V"}
    assert imap.resolve("my/img:3", "serve") is None
    assert imap.resolve("other/img", "train") is None
    assert (
        imap.resolve("811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1", "train") is None
    )
    for content, message in (
        ("{", "not valid JSON"),
        ("{}", "must be a JSON list"),
        ('[{"train": []}]', "needs an 'image' string"),
        ('[{"image": "x", "train": "python t.py"}]', "'train' must be a list of strings"),
        ('[{"image": "(", "train": ["a"]}]', "not a valid regular expression"),
    ):
        path.write_text(content)
        with pytest.raises(ImageMapError, match=message):
            ImageMap.load(path)
    with pytest.raises(ImageMapError, match="cannot read"):
        ImageMap.load(tmp_path / "missing.json")


def test_process_executor_refuses_unmapped_images(tmp_path: Path):
    with pytest.raises(Exception, match="has no local 'train' command"):
        ProcessExecutor(ImageMap([])).start(RunSpec("some/image", "train", tmp_path, "x"))


# ---------------------------------------------------------------- capture pieces
def test_capture_encoding_and_keys():
    config = CaptureConfig.from_api(
        {
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": "s3://b/prefix/",
            "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        }
    )
    assert config is not None and config.capture_input and config.capture_output
    assert encode_payload(b"1,2", "text/csv; charset=utf-8", config) == ("1,2", "CSV")
    assert encode_payload(b"[1]", "application/json", config) == ("[1]", "JSON")
    assert encode_payload(b"\xff\xfe", "application/json", config) == ("//4=", "BASE64")  # not UTF-8
    assert encode_payload(b"abc", "image/png", config) == ("YWJj", "BASE64")
    when = dt.datetime(2025, 10, 4, 8, 44, 11, 123456, tzinfo=dt.UTC)
    bucket, key = capture_key(config.destination, "ep", "AllTraffic", when)
    assert bucket == "b"
    assert key.startswith("prefix/ep/AllTraffic/2025/10/04/08/44-11-123-") and key.endswith(".jsonl")
    assert CaptureConfig.from_api({**_minimal_capture(), "EnableCapture": False}) is None
    assert CaptureConfig.from_api(None) is None


def _minimal_capture() -> dict[str, Any]:
    return {
        "InitialSamplingPercentage": 5,
        "DestinationS3Uri": "s3://b",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }


# ---- docker executor (no engine here: a fake client)
class FakeContainer:
    def __init__(self, image: str, kwargs: dict[str, Any], script: Any):
        self.image, self.kwargs = image, kwargs
        self.status = "running"
        self.attrs: dict[str, Any] = {"State": {"ExitCode": None}}
        self.stopped_with: int | None = None
        self.removed = False
        self._done = threading.Event()
        self._code = script(self)
        self._done.set()

    def logs(self, stream: bool, follow: bool):
        assert stream and follow
        yield b"line one\nline "
        yield b"two\n"

    def reload(self) -> None:
        if self._done.is_set():
            self.status = "exited"
            self.attrs["State"]["ExitCode"] = self._code

    def wait(self, timeout: float | None = None) -> dict[str, int]:
        return {"StatusCode": self._code}

    def stop(self, timeout: int) -> None:
        self.stopped_with = timeout

    def remove(self, force: bool) -> None:
        self.removed = force


class FakeDocker:
    """Just enough of docker.DockerClient: ``containers.run`` executes a script against the bind mount."""

    def __init__(self, script: Any):
        self.runs: list[FakeContainer] = []
        self.script = script
        self.containers = self

    def run(self, image: str, **kwargs: Any) -> FakeContainer:
        container = FakeContainer(image, kwargs, self.script)
        self.runs.append(container)
        return container


def test_docker_executor_runs_the_image_with_the_sagemaker_layout(tmp_path: Path):
    def train_script(container: FakeContainer) -> int:
        (host,) = container.kwargs["volumes"]
        (Path(host) / "model" / "weights.bin").write_bytes(b"w")  # what the image writes to /opt/ml/model
        return 0

    (tmp_path / "model").mkdir()
    fake = FakeDocker(train_script)
    run = DockerExecutor(client=fake).start(
        RunSpec("acct.dkr.ecr/img:1", "train", tmp_path, "sm-train-j", {"A": "1"})
    )
    (container,) = fake.runs
    assert container.image == "acct.dkr.ecr/img:1"
    assert container.kwargs["command"] == ["train"]
    assert container.kwargs["volumes"] == {str(tmp_path.resolve()): {"bind": "/opt/ml", "mode": "rw"}}
    assert container.kwargs["environment"] == {"A": "1", "OPT_ML": "/opt/ml"}
    assert "ports" not in container.kwargs
    assert list(run.lines()) == ["line one", "line two"]
    assert run.wait(1) == 0 and run.poll() == 0
    assert (tmp_path / "model" / "weights.bin").read_bytes() == b"w"


def test_docker_executor_serves_on_a_loopback_port_and_stops(tmp_path: Path):
    fake = FakeDocker(lambda c: 137)
    run = DockerExecutor(client=fake).start(RunSpec("img", "serve", tmp_path, "sm-ep", {}, port=45678))
    (container,) = fake.runs
    assert container.kwargs["command"] == ["serve"]
    assert container.kwargs["ports"] == {"8080/tcp": ("127.0.0.1", 45678)}
    assert container.kwargs["environment"]["SAGEMAKER_BIND_TO_PORT"] == "8080"
    assert run.stop(3) == 137
    assert container.stopped_with == 3 and container.removed


# ---- the keep-alive proxy pool
def test_proxy_pool_reuses_connections_retries_stale_ones_and_times_out():
    import asyncio

    from sagemaker_emulator.proxy import HttpPool, ProxyError, ProxyTimeout

    async def scenario() -> None:
        accepted = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
                ).split(b":")[1]
            )
            body = await reader.readexactly(length)
            if body == b"slow":
                await asyncio.sleep(5)
            chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n" + chunked
            )
            await writer.drain()
            writer.close()  # keep-alive was promised, but the server drops the connection

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = HttpPool(timeout=1.0)
        first = await pool.post("127.0.0.1", port, "/invocations", b"x", {"content-type": "text/plain"})
        assert (first.status, first.body, first.headers["content-type"]) == (
            200,
            b"hello world",
            "text/plain",
        )
        await asyncio.sleep(0.05)
        second = await pool.post("127.0.0.1", port, "/invocations", b"y", {})  # stale conn -> fresh one
        assert second.body == b"hello world" and accepted == 2
        with pytest.raises(ProxyTimeout):
            await pool.post("127.0.0.1", port, "/invocations", b"slow", {})
        server.close()
        await server.wait_closed()
        await pool.aclose()
        with pytest.raises(ProxyError):
            await pool.post("127.0.0.1", port, "/invocations", b"z", {})

    asyncio.run(scenario())
