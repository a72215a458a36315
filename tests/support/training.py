"""Tiny generated datasets in the SageMaker container layout, for the training/ tests.

Two classes that a network separates in a couple of epochs: class 0 has a
bright horizontal bar, class 1 a bright vertical bar, both at random positions
over noise. Images are real PNG files listed in real ``.lst`` manifests.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

CHANNELS = ("train", "validation", "train_lst", "validation_lst")


def bar_image(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """An HWC uint8 RGB image of class ``label`` (0: horizontal bar, 1: vertical bar)."""
    pixels = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
    at = int(rng.integers(2, size - 4))
    if label == 0:
        pixels[at : at + 3, :, :] = 230
    else:
        pixels[:, at : at + 3, :] = 230
    return pixels


def png_bytes(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_job(
    opt_ml: Path,
    hyperparameters: dict[str, str],
    n_train: int = 48,
    n_validation: int = 16,
    size: int = 16,
    seed: int = 0,
    lst_prefix: str = "",
) -> Path:
    """Write config + channels for one training job under ``opt_ml``; returns ``opt_ml``.

    ``lst_prefix`` is prepended to the manifest paths (e.g. ``"train/"`` to mimic
    manifests written relative to the bucket prefix instead of the channel).
    """
    rng = np.random.default_rng(seed)
    config = opt_ml / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(
        json.dumps({c: {"ContentType": "application/x-image", "TrainingInputMode": "File"} for c in CHANNELS})
    )
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    for channel, count in (("train", n_train), ("validation", n_validation)):
        images = opt_ml / "input" / "data" / channel
        manifests = opt_ml / "input" / "data" / f"{channel}_lst"
        images.mkdir(parents=True, exist_ok=True)
        manifests.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(count):
            label = i % 2
            name = f"{channel}_{i:04d}.png"
            (images / name).write_bytes(png_bytes(bar_image(label, size, rng)))
            lines.append(f"{i}\t{label}\t{lst_prefix}{name}")
        (manifests / f"{channel}.lst").write_text("\n".join(lines) + "\n")
    return opt_ml
