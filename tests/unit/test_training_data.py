"""The image-format input (channels + .lst manifests) and the image decoding shared with the server."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.training import bar_image, png_bytes, write_job
from training.data import DataError, check_input_config, load_channel, read_manifests
from training.images import ImageDecodeError, decode_image


def _encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_load_channel_decodes_every_listed_image_with_its_class(tmp_path: Path) -> None:
    opt_ml = write_job(tmp_path, {}, n_train=6, n_validation=2, size=16)
    data = load_channel(opt_ml / "input/data/train", opt_ml / "input/data/train_lst", 2, (3, 16, 16))
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype == np.uint8
    assert data.labels.tolist() == [0, 1, 0, 1, 0, 1]
    first = np.asarray(Image.open(opt_ml / "input/data/train/train_0000.png")).transpose(2, 0, 1)
    assert np.array_equal(data.images[0], first)


def test_manifest_paths_relative_to_the_bucket_prefix_are_resolved(tmp_path: Path) -> None:
    opt_ml = write_job(tmp_path, {}, n_train=4, n_validation=2, lst_prefix="train/")
    data = load_channel(opt_ml / "input/data/train", opt_ml / "input/data/train_lst", 2, (3, 16, 16))
    assert data.paths[0] == "train/train_0000.png" and len(data) == 4


def test_manifest_classes_written_as_floats_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "a.lst").write_text("0\t1.000000\tx.png\n1\t0.0\ty.png\n\n")
    assert read_manifests(tmp_path, 2) == [(1, "x.png"), (0, "y.png")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0\t1\n", "a.lst line 1: expected 'index<TAB>class<TAB>path'"),
        ("0\tbike\tx.png\n", "a.lst line 1: class 'bike' is not a number"),
        ("0\t2\tx.png\n", "a.lst line 1: class '2' is not an integer in [0, 2)"),
        ("0\t0.5\tx.png\n", "is not an integer"),
        ("0\t1\t0\tx.png\n", "multi-label"),
    ],
)
def test_malformed_manifest_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "a.lst").write_text(line)
    with pytest.raises(DataError) as info:
        read_manifests(tmp_path, 2)
    assert message in str(info.value)


def test_missing_manifest_unsafe_path_and_unreadable_image_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no \.lst manifest in"):
        read_manifests(tmp_path, 2)
    opt_ml = write_job(tmp_path / "job", {}, n_train=2, n_validation=2)
    train, lst = opt_ml / "input/data/train", opt_ml / "input/data/train_lst"
    (lst / "train.lst").write_text("0\t0\t../validation/validation_0000.png\n")
    with pytest.raises(DataError, match="must be relative to the channel and stay inside it"):
        load_channel(train, lst, 2, (3, 16, 16))
    (train / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (lst / "train.lst").write_text("0\t0\tbroken.png\n")
    with pytest.raises(DataError, match=r"broken\.png: .*(corrupt|not an image)"):
        load_channel(train, lst, 2, (3, 16, 16))


def test_input_config_rejects_recordio_unknown_channels_and_pipe_mode() -> None:
    ok = {
        c: {"ContentType": "application/x-image"}
        for c in ("train", "validation", "train_lst", "validation_lst")
    }
    check_input_config(ok, set())
    with pytest.raises(DataError, match=r"ContentType 'application/x-recordio'.*image format only"):
        check_input_config({**ok, "train": {"ContentType": "application/x-recordio"}}, set())
    with pytest.raises(DataError, match="incremental training from a model channel is not supported"):
        check_input_config({**ok, "model": {}}, set())
    with pytest.raises(DataError, match="TrainingInputMode Pipe"):
        check_input_config({**ok, "train": {"TrainingInputMode": "Pipe"}}, set())
    with pytest.raises(DataError, match="channel 'train_lst' is missing"):
        check_input_config({k: v for k, v in ok.items() if k != "train_lst"}, set())


def test_decode_handles_rgba_grayscale_palette_and_jpeg_of_any_size() -> None:
    rgba = Image.new("RGBA", (50, 30), (200, 10, 20, 0))
    out = decode_image(_encode(rgba), (3, 32, 32))
    assert out.shape == (3, 32, 32) and out[:, 5, 5].tolist() == [200, 10, 20]  # alpha dropped, colour kept
    grey = Image.new("L", (7, 9), 77)
    assert decode_image(_encode(grey), (3, 32, 32))[:, 0, 0].tolist() == [77, 77, 77]
    palette = Image.new("RGB", (32, 32), (0, 0, 255)).convert("P")
    assert decode_image(_encode(palette), (3, 32, 32))[:, 3, 3].tolist() == [0, 0, 255]
    jpeg = decode_image(_encode(Image.new("RGB", (640, 480), (10, 200, 10)), "JPEG"), (3, 32, 32))
    assert np.abs(jpeg[:, 16, 16].astype(int) - [10, 200, 10]).max() <= 3
    one_channel = decode_image(_encode(Image.new("RGB", (32, 32), (255, 255, 255))), (1, 32, 32))
    assert one_channel.shape == (1, 32, 32) and one_channel.min() == 255


def test_decode_scales_16_bit_grayscale_instead_of_clipping() -> None:
    deep = Image.fromarray(np.full((8, 8), 0x8000, dtype=np.uint16))
    assert deep.mode.startswith("I;16")
    assert decode_image(_encode(deep), (3, 8, 8))[:, 0, 0].tolist() == [128, 128, 128]


def test_resize_hyperparameter_resizes_the_short_side_then_centre_crops() -> None:
    pixels = np.zeros((40, 80, 3), dtype=np.uint8)
    pixels[:, 30:50] = 255  # a white band in the middle 20 columns of 80
    out = decode_image(png_bytes(pixels), (3, 16, 16), resize=20)  # 40x80 -> 20x40, centre 16x16
    assert out.shape == (3, 16, 16)
    assert out[0, 8, 0] == 0 and out[0, 8, 8] == 255  # the crop is centred on the band


def test_pixels_survive_png_round_trip_unchanged() -> None:
    pixels = bar_image(1, 16, np.random.default_rng(3))
    assert np.array_equal(decode_image(png_bytes(pixels), (3, 16, 16)), pixels.transpose(2, 0, 1))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"GIF89a-but-not-really", "not an image in a known format (the body starts with b'GIF89a"),
        (b"hello world", "not an image in a known format"),
    ],
)
def test_bad_bytes_give_a_clear_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(body, (3, 32, 32))
    assert message in str(info.value)


def test_truncated_png_and_oversized_images_are_refused() -> None:
    full = png_bytes(bar_image(0, 64, np.random.default_rng(1)))
    with pytest.raises(ImageDecodeError, match="corrupt or truncated"):
        decode_image(full[: len(full) // 2], (3, 32, 32))
    big = _encode(Image.new("1", (8000, 8000)))  # 1-bit: tiny file, 64 M pixels
    with pytest.raises(ImageDecodeError, match="8000x8000 pixels, more than"):
        decode_image(big, (3, 32, 32))
