"""The model server: content types, errors, concurrency, a real uvicorn process, no torch at serve time."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from harness.embedded.process import free_port, stop_child
from tests.support.training import bar_image, png_bytes, write_job
from training import contract
from training import train as trainer
from training.export import save_model
from training.hyperparameters import parse_hyperparameters
from training.serve import MAX_BODY, create_app, load_classifier

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model: one epoch on the tiny bar dataset (32x32), exported the way the trainer does."""
    opt_ml = write_job(tmp_path_factory.mktemp("job"), {}, n_train=32, n_validation=8, size=32)
    os.environ["OPT_ML"] = str(opt_ml)
    try:
        hp = parse_hyperparameters(
            {"num_classes": "2", "num_training_samples": "32", "image_shape": "3,32,32", "epochs": "1"}
        )
        train, validation = trainer.load_data(hp)
        model, _ = trainer.fit(hp, train, validation, seed=0)
        save_model(model, {"num_classes": 2, "classes": [0, 1], "image_shape": [3, 32, 32], "resize": None})
    finally:
        del os.environ["OPT_ML"]
    return opt_ml / "model"


def _post(model_dir: Path, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(load_classifier(model_dir)))
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            return await client.post("/invocations", content=body, headers=headers)

    return asyncio.run(call())


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


SAMPLE = bar_image(0, 32, np.random.default_rng(5))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (png_bytes(SAMPLE), "image/png"),
        (png_bytes(SAMPLE, "RGBA"), "image/png"),
        (png_bytes(SAMPLE, "L"), "application/x-image"),
        (_encode(Image.fromarray(SAMPLE).resize((300, 200)), "JPEG"), "image/jpeg"),
        (_encode(Image.fromarray(SAMPLE), "PNG"), "image/png; charset=binary"),
    ],
)
def test_invocations_return_probabilities_in_class_order(
    model_dir: Path, body: bytes, content_type: str
) -> None:
    response = _post(model_dir, body, {"content-type": content_type})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    probabilities = response.json()
    assert len(probabilities) == 2 and abs(sum(probabilities) - 1.0) < 1e-5
    assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_png_answer_equals_the_model_on_the_decoded_pixels(model_dir: Path) -> None:
    expected = load_classifier(model_dir).predict(SAMPLE.transpose(2, 0, 1)[None])[0]
    got = _post(model_dir, png_bytes(SAMPLE), {"content-type": "image/png"}).json()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_jsonlines_accept_gives_the_builtin_prediction_shape(model_dir: Path) -> None:
    response = _post(
        model_dir, png_bytes(SAMPLE), {"content-type": "image/png", "accept": "application/jsonlines"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonlines"
    assert response.text.endswith("\n") and response.text.count("\n") == 1
    line = json.loads(response.text)
    assert list(line) == ["prediction"] and abs(sum(line["prediction"]) - 1.0) < 1e-5
    wildcard = _post(model_dir, png_bytes(SAMPLE), {"content-type": "image/png", "accept": "text/html, */*"})
    assert wildcard.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (
            b"not an image",
            {"content-type": "image/png"},
            400,
            "cannot decode the image/png body: not an image",
        ),
        (b"", {"content-type": "image/jpeg"}, 400, "empty body"),
        (png_bytes(SAMPLE)[:60], {"content-type": "image/png"}, 400, "corrupt or truncated image"),
        (png_bytes(SAMPLE), {"content-type": "text/csv"}, 415, "unsupported Content-Type 'text/csv'"),
        (png_bytes(SAMPLE), {}, 415, "unsupported Content-Type '(none)'"),
        (png_bytes(SAMPLE), {"content-type": "image/png", "accept": "text/csv"}, 406, "unsupported Accept"),
        (b"\0" * (MAX_BODY + 1), {"content-type": "image/png"}, 413, "over the 6291456-byte limit"),
    ],
)
def test_errors_are_clear(model_dir: Path, body: bytes, headers: dict, status: int, message: str) -> None:
    response = _post(model_dir, body, headers)
    assert response.status_code == status
    assert message in response.text


def test_missing_model_is_a_clear_load_error(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(Exception, match=r"no model in .*found \['weights.bin'\]"):
        load_classifier(tmp_path)


# ---------------------------------------------------------------------------------------------------------
# The real server process


@pytest.fixture
def server(model_dir: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    opt_ml = tmp_path / "opt_ml"
    (opt_ml).mkdir()
    (opt_ml / "model").symlink_to(model_dir)
    env = {
        **os.environ,
        "OPT_ML": str(opt_ml),
        "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "training.serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not answer /ping within 60 s"
            time.sleep(0.1)
        yield url
    finally:
        stop_child(process)
        log.close()


def test_real_server_answers_concurrent_requests_consistently(server: str) -> None:
    rng = np.random.default_rng(11)
    bodies = [png_bytes(bar_image(i % 2, 32, rng)) for i in range(8)]
    with httpx.Client(base_url=server, timeout=30) as client:
        expected = [
            client.post("/invocations", content=b, headers={"content-type": "image/png"}).json()
            for b in bodies
        ]

    def call(i: int) -> list[float]:
        with httpx.Client(base_url=server, timeout=30) as client:
            response = client.post(
                "/invocations", content=bodies[i % 8], headers={"content-type": "image/png"}
            )
            assert response.status_code == 200
            return response.json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(call, range(64)))
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer, expected[i % 8], rtol=1e-6)
    with httpx.Client(base_url=server, timeout=30) as client:
        bad = client.post("/invocations", content=b"junk", headers={"content-type": "image/png"})
    assert bad.status_code == 400 and "not an image" in bad.text


def test_server_exits_with_a_clear_message_when_there_is_no_model(tmp_path: Path) -> None:
    env = {**os.environ, "OPT_ML": str(tmp_path), "PYTHONPATH": str(REPO), "SAGEMAKER_BIND_TO_PORT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "training.serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert f"no model in {tmp_path / 'model'}" in done.stdout


def test_serving_never_imports_torch(model_dir: Path) -> None:
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from training.serve import create_app, load_classifier\n"
        f"c = load_classifier(Path({str(model_dir)!r}))\n"
        "create_app(c)\n"
        "c.predict(np.zeros((1, 3, 32, 32), np.uint8))\n"
        "import uvicorn\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
        "print('no torch')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no torch"


def test_model_files_get_normal_file_permissions_not_mkstemps_0600(model_dir: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    for name in (contract.MODEL_ONNX, contract.MODEL_INFO):
        assert (model_dir / name).stat().st_mode & 0o777 == 0o644 & ~umask
