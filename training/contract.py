"""The SageMaker container layout (``/opt/ml``) shared by the trainer and the model server.

Everything is rooted at ``$OPT_ML`` (default ``/opt/ml``) so the same code runs in
a real SageMaker container, in the project's Docker image and as a plain local
process started by the emulator with ``OPT_ML`` pointing at a job folder.
No torch import here: the model server uses this module too.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MODEL_INFO = "model-info.json"  # written next to model.onnx: classes, image_shape, preprocessing
MODEL_ONNX = "model.onnx"


def root() -> Path:
    return Path(os.environ.get("OPT_ML", "/opt/ml"))


def config_dir() -> Path:
    return root() / "input" / "config"


def channel_dir(channel: str) -> Path:
    return root() / "input" / "data" / channel


def model_dir() -> Path:
    return root() / "model"


def output_dir() -> Path:
    return root() / "output"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    A reader (SageMaker packaging model.tar.gz, a server loading the model) never
    sees half a file, even if the process is killed mid-write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644 & ~_umask())  # mkstemp creates 0600; model files must be readable by the server
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_failure(reason: str) -> Path:
    """Record why the job failed where SageMaker reads it (``FailureReason`` of DescribeTrainingJob)."""
    path = output_dir() / "failure"
    write_atomic(path, reason.encode())
    return path


def read_json(path: Path, what: str) -> Any:
    """Read a JSON config file, with errors that name the file."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found at {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} at {path} is not valid JSON: {exc}") from None
