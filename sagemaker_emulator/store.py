"""Resource state on disk: one JSON file per resource, written atomically (temp name + rename).

Why files and not a database: the state is tiny, a person can read it while debugging, and an
atomic rename means a crash never leaves a half-written record for the next start to trip on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    raise TypeError(f"cannot store {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        return dt.datetime.fromisoformat(obj["$dt"])
    if len(obj) == 1 and "$bytes" in obj:
        return bytes.fromhex(obj["$bytes"])
    return obj


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, default=_encode, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResourceStore:
    """``<root>/<kind>/<name>.json`` for each resource kind (training-jobs, models, ...)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, kind: str, name: str) -> Path:
        return self.root / kind / f"{name}.json"

    def save(self, kind: str, name: str, record: dict[str, Any]) -> None:
        write_json_atomic(self._path(kind, name), record)

    def delete(self, kind: str, name: str) -> None:
        self._path(kind, name).unlink(missing_ok=True)

    def load_all(self, kind: str) -> list[dict[str, Any]]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        records = []
        for path in sorted(folder.glob("*.json")):
            try:
                records.append(json.loads(path.read_text(), object_hook=_decode))
            except (OSError, ValueError):
                continue  # unreadable leftovers are skipped, not fatal
        return records
