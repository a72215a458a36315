"""Build small CIFAR-100-format tarballs for tests: the real pickle layout, our own pixels.

The rows are stored the way CIFAR stores them (channel-major: 1024 red values,
then green, then blue, each row-major), so a test can put a known pattern in and
check that staging turns it into the right HWC image.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BICYCLE, MOTORCYCLE = 8, 48


def pattern_image(seed: int) -> np.ndarray:
    """A 32x32x3 HWC image whose orientation is unambiguous: red grows left->right, green top->bottom."""
    x = np.arange(32, dtype=np.uint8) * 8
    img = np.zeros((32, 32, 3), dtype=np.uint8)
    img[:, :, 0] = x[None, :]
    img[:, :, 1] = x[:, None]
    img[:, :, 2] = seed % 256
    return img


def to_cifar_row(hwc: np.ndarray) -> np.ndarray:
    """The inverse of staging's ``row.reshape(3, 32, 32).transpose(1, 2, 0)``."""
    return hwc.transpose(2, 0, 1).reshape(-1)


def batch(labels: Sequence[int], prefix: str) -> dict[bytes, object]:
    images = [pattern_image(i) for i in range(len(labels))]
    return {
        b"filenames": [f"{prefix}_{i:06d}.png".encode() for i in range(len(labels))],
        b"batch_label": prefix.encode(),
        b"fine_labels": list(labels),
        b"coarse_labels": [0] * len(labels),
        b"data": np.stack([to_cifar_row(im) for im in images]) if images else np.zeros((0, 3072), np.uint8),
    }


def default_labels(n_per_class: int, distractors: int = 3) -> list[int]:
    """Bicycles and motorcycles interleaved with distractor classes that staging must drop."""
    labels: list[int] = []
    for i in range(n_per_class):
        labels += [BICYCLE, 11 + i % distractors, MOTORCYCLE]
    return labels


def write_tarball(
    path: Path,
    train: dict[bytes, object] | None = None,
    test: dict[bytes, object] | None = None,
    members: Sequence[str] = ("train", "test", "meta"),
    raw: dict[str, bytes] | None = None,
) -> Path:
    """Write ``path`` as cifar-100-python.tar.gz with the given pickles (``raw`` overrides member bytes)."""
    train = train if train is not None else batch(default_labels(4), "train")
    test = test if test is not None else batch(default_labels(2), "test")
    meta = {b"fine_label_names": [f"class{i}".encode() for i in range(100)], b"coarse_label_names": []}
    bodies = {"train": train, "test": test, "meta": meta}
    with tarfile.open(path, "w:gz") as tar:
        for name in members:
            data = (raw or {}).get(name)
            if data is None:
                data = pickle.dumps(bodies[name], protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def separable_batch(n_per_class: int, prefix: str, seed: int = 0) -> dict[bytes, object]:
    """Bicycles reddish, motorcycles bluish, with noise: a tiny model learns them in a few epochs.

    The workflow's end-to-end tests need a model that is confident after seconds of training, on
    a dataset that still goes through the real CIFAR pickle layout and staging.
    """
    rng = np.random.default_rng(seed)
    labels, rows = [], []
    for i in range(2 * n_per_class):
        label = BICYCLE if i % 2 == 0 else MOTORCYCLE
        img = rng.integers(0, 60, size=(32, 32, 3), dtype=np.uint8)
        img[:, :, 0 if label == BICYCLE else 2] += 180
        img[8:24, 8:24, 1] += 40 * (i % 3)  # some variation that carries no class signal
        labels.append(label)
        rows.append(to_cifar_row(img))
    return {
        b"filenames": [f"{prefix}_{i:06d}.png".encode() for i in range(len(labels))],
        b"batch_label": prefix.encode(),
        b"fine_labels": labels,
        b"coarse_labels": [0] * len(labels),
        b"data": np.stack(rows),
    }
