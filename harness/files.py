"""Files the harness writes: whole or not at all.

Every file a reader may look at while we write it (staged PNGs and manifests, reports, pid files)
goes to a temporary name in the same folder and is renamed into place, so a reader sees the old
file or the new one, never half of one, and a failure leaves nothing behind. The permissions are
what a plain ``open()`` would give (``0666`` less the umask): ``mkstemp`` would make them ``0600``,
and staged data and reports are meant to be read by others.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename; text is written as UTF-8."""
    body = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
