"""Which local command runs an image: the emulator's replacement for pulling a container.

The emulator knows nothing about any particular project, so it maps no image by itself: the
JSON file its user passes (``--image-map``) says which local command runs which image URI in
``train`` and ``serve`` mode (the harness passes ``harness/embedded/sagemaker-images.json``,
which maps the built-in ``image-classification`` image to the project's trainer and server).
``BUILTIN_IMAGE_CLASSIFICATION`` is the pattern of that image's URI, for maps written in Python.

File format: a list of entries, first match wins::

    [{"image": "<regular expression, full match>", "train": ["{python}", "-m", "my.train"],
      "serve": ["{python}", "-m", "my.serve"], "env": {"K": "V"}, "cwd": "/path"}]

``{python}`` is replaced by the emulator's own interpreter.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/image-classification[:tag|@digest]
BUILTIN_IMAGE_CLASSIFICATION = (
    r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/image-classification(:[\w.-]+|@sha256:[0-9a-f]+)?"
)


class ImageMapError(ValueError):
    """The image map file is unreadable or an entry is malformed."""


@dataclass(frozen=True)
class ImageEntry:
    pattern: str
    train: tuple[str, ...] | None
    serve: tuple[str, ...] | None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def matches(self, image: str) -> bool:
        return re.fullmatch(self.pattern, image) is not None


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    cwd: str | None


def _expand(argv: tuple[str, ...]) -> list[str]:
    return [sys.executable if a == "{python}" else a.replace("{python}", sys.executable) for a in argv]


def _entry_from(raw: Any, where: str) -> ImageEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("image"), str):
        raise ImageMapError(f"{where}: each entry needs an 'image' string")
    try:
        re.compile(raw["image"])
    except re.error as exc:
        raise ImageMapError(f"{where}: 'image' is not a valid regular expression ({exc})") from exc
    cmds: dict[str, tuple[str, ...] | None] = {}
    for key in ("train", "serve"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(a, str) for a in value)):
            raise ImageMapError(f"{where}: '{key}' must be a list of strings")
        cmds[key] = tuple(value) if value else None
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ImageMapError(f"{where}: 'env' must map names to strings")
    cwd = raw.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ImageMapError(f"{where}: 'cwd' must be a string")
    return ImageEntry(pattern=raw["image"], train=cmds["train"], serve=cmds["serve"], env=env, cwd=cwd)


class ImageMap:
    """Resolves image URIs to local training / serving commands."""

    def __init__(self, entries: list[ImageEntry] | None = None):
        self.entries = list(entries or [])

    @classmethod
    def load(cls, path: Path | None) -> ImageMap:
        """The entries of ``path``; an empty map (every image refused) without one."""
        extra: list[ImageEntry] = []
        if path is not None:
            try:
                raw = json.loads(Path(path).read_text())
            except OSError as exc:
                raise ImageMapError(f"image map {path}: cannot read ({exc})") from exc
            except ValueError as exc:
                raise ImageMapError(f"image map {path}: not valid JSON ({exc})") from exc
            if not isinstance(raw, list):
                raise ImageMapError(f"image map {path}: must be a JSON list of entries")
            extra = [_entry_from(item, f"image map {path} entry {i}") for i, item in enumerate(raw)]
        return cls(extra)

    def resolve(self, image: str, mode: str) -> Command | None:
        """The command for ``mode`` ('train' or 'serve'), or ``None`` when no entry maps the image."""
        for entry in self.entries:
            if entry.matches(image):
                argv = entry.train if mode == "train" else entry.serve
                if argv is None:
                    return None
                return Command(argv=_expand(argv), env=dict(entry.env), cwd=entry.cwd)
        return None
