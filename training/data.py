"""The built-in algorithm's "image format" input: image channels plus ``.lst`` manifests.

Channels (folders under ``$OPT_ML/input/data/``): ``train`` and ``validation``
hold the images, ``train_lst`` and ``validation_lst`` hold one or more ``.lst``
files. A ``.lst`` line is tab-separated ``index<TAB>class<TAB>relative/path``
(the class may be written as a float, ``1.000000``, as MXNet's im2rec tools do),
with the path relative to the image channel's root.

Path resolution is forgiving in one documented way: if ``<channel>/<path>``
does not exist, the path's leading folders are dropped one at a time. That
accepts both manifests written relative to the channel (``bike_s_000682.png``)
and ones written relative to the bucket prefix the channel was copied from
(``train/bike_s_000682.png``), which is the most common mistake with this
algorithm. Every other problem (no manifest, a malformed line, a class outside
``[0, num_classes)``, an image that cannot be read) is a :class:`DataError`
naming the file and line.

All images are decoded up front into one ``uint8`` array: the workflow's
datasets are a few thousand small images, and decoding once keeps every epoch
CPU-bound on the network, not on PNG decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.images import ImageDecodeError, decode_image

CHANNELS = ("train", "validation", "train_lst", "validation_lst")
IMAGE_CONTENT_TYPES = ("application/x-image", "image/png", "image/jpeg")


class DataError(ValueError):
    """The input channels cannot be used; the message names the channel, file and line."""


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,)
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def check_input_config(config: dict, channels_present: set[str]) -> None:
    """Validate ``inputdataconfig.json`` against what this trainer can read.

    The built-in algorithm also accepts RecordIO and augmented manifests; this
    trainer reads the image format only, so anything else fails early and clearly.
    """
    for required in CHANNELS:
        if required not in config and required not in channels_present:
            raise DataError(
                f"channel '{required}' is missing: the image format needs the channels train, validation, "
                "train_lst and validation_lst"
            )
    for name, spec in config.items():
        if name not in CHANNELS:
            hint = " (incremental training from a model channel is not supported)" if name == "model" else ""
            raise DataError(f"unsupported channel '{name}'{hint}; expected {', '.join(CHANNELS)}")
        if not isinstance(spec, dict):
            raise DataError(f"inputdataconfig.json: channel '{name}' is not an object")
        content_type = str(spec.get("ContentType", "application/x-image")).split(";")[0].strip().lower()
        accepted = IMAGE_CONTENT_TYPES + (("text/plain",) if name.endswith("_lst") else ())
        if content_type not in accepted:
            raise DataError(
                f"channel '{name}' has ContentType {content_type!r}; this trainer reads the image format "
                f"only ({', '.join(IMAGE_CONTENT_TYPES)}), not RecordIO or augmented manifests"
            )
        mode = spec.get("TrainingInputMode", "File")
        if mode not in ("File", "FastFile"):
            raise DataError(
                f"channel '{name}' uses TrainingInputMode {mode}; only File (and FastFile) are supported"
            )


def read_manifests(lst_dir: Path, num_classes: int) -> list[tuple[int, str]]:
    """All ``(class, relative path)`` entries of the ``.lst`` files in ``lst_dir``, in file and line order."""
    if not lst_dir.is_dir():
        raise DataError(f"manifest channel folder {lst_dir} does not exist")
    files = sorted(p for p in lst_dir.rglob("*.lst") if p.is_file())
    if not files:
        raise DataError(f"no .lst manifest in {lst_dir}")
    entries: list[tuple[int, str]] = []
    for lst in files:
        for number, line in enumerate(lst.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            where = f"{lst.name} line {number}"
            if len(fields) < 3:
                raise DataError(f"{where}: expected 'index<TAB>class<TAB>path', got {line!r}")
            if len(fields) > 3:
                raise DataError(f"{where}: several labels per image (multi-label) are not supported")
            try:
                value = float(fields[1])
            except ValueError:
                raise DataError(f"{where}: class {fields[1]!r} is not a number") from None
            if value != int(value) or not (0 <= value < num_classes):
                raise DataError(f"{where}: class {fields[1]!r} is not an integer in [0, {num_classes})")
            entries.append((int(value), fields[2].strip()))
    if not entries:
        raise DataError(f"the manifests in {lst_dir} list no images")
    return entries


def resolve_image(image_dir: Path, relative: str) -> Path:
    """The file for a manifest path (see the module docstring for the one fallback)."""
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts:
        raise DataError(f"manifest path {relative!r} must be relative to the channel and stay inside it")
    for start in range(len(parts)):
        candidate = image_dir.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    raise DataError(f"image {relative!r} listed in the manifest is not in {image_dir}")


def load_channel(
    image_dir: Path,
    lst_dir: Path,
    num_classes: int,
    image_shape: tuple[int, int, int],
    resize: int | None = None,
) -> Dataset:
    """Decode every image a channel's manifests list."""
    if not image_dir.is_dir():
        raise DataError(f"image channel folder {image_dir} does not exist")
    entries = read_manifests(lst_dir, num_classes)
    images = np.empty((len(entries), *image_shape), dtype=np.uint8)
    for i, (_, relative) in enumerate(entries):
        path = resolve_image(image_dir, relative)
        try:
            images[i] = decode_image(path.read_bytes(), image_shape, resize)
        except ImageDecodeError as exc:
            raise DataError(f"image {path}: {exc}") from None
    labels = np.array([label for label, _ in entries], dtype=np.int64)
    return Dataset(images, labels, tuple(r for _, r in entries))
