"""Images without a registry: a Debian base made locally, and pip's settings for builds from it.

Where ``python:3.11-slim`` cannot be pulled, :func:`build_base` makes an equivalent base: ``debootstrap
--variant=minbase bookworm`` from apt's configured Debian mirror, Python 3.11 in a venv at
/usr/local/python (first on PATH, so ``python`` and ``pip`` mean what they mean in the official image;
not under /opt, where Lambda layers go), imported with
``docker import``. It is Debian's Python 3.11.2, older than 3.11.4: the SageMaker emulator and the
training image must work on it (no ``TarFile.extractall(filter=...)``).

:func:`prepare_context` fills ``docker/offline/`` (git-ignored) with what the Dockerfiles pick up at build
time only: the host's CA bundle and a ``pip.conf`` naming it (the ``PIP_CONFIG_FILE`` build arg; never an
image ENV), and the torch 2.13.0 CPU wheel from the host's pip find-links, so no build downloads CUDA.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.containers.engine import EngineError, require_tool

BASE_TAG = "scones-base:bookworm-py3.11"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
VENV = "/usr/local/python"
TORCH_WHEEL_GLOB = "torch-2.13.0*cp311*.whl"
_IMPORT_CHANGES = (
    f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The first Debian archive URI apt is configured with (deb822 or one-line format), else the default."""
    if os.environ.get("HARNESS_DEBIAN_MIRROR"):
        return os.environ["HARNESS_DEBIAN_MIRROR"]
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for uri in re.findall(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def image_exists(tag: str) -> bool:
    probe = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return probe.returncode == 0


def build_base(log: Callable[[str], None], tag: str = BASE_TAG, rebuild: bool = False) -> float | None:
    """Make the base image unless it exists; returns the seconds it took (``None`` when reused)."""
    if image_exists(tag) and not rebuild:
        return None
    debootstrap = require_tool("debootstrap", "debootstrap")
    if os.geteuid() != 0:
        raise EngineError("debootstrap needs root to build the offline base image")
    started = time.perf_counter()
    mirror = apt_mirror()
    with tempfile.TemporaryDirectory(prefix="scones-base-") as tmp:
        root = Path(tmp) / "rootfs"
        log(f"debootstrap bookworm from {mirror} ...")
        _run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                "bookworm",
                str(root),
                mirror,
            ],
            "debootstrap",
        )
        _run(["chroot", str(root), "python3", "-m", "venv", VENV], "python3 -m venv in the base")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        changes = [arg for change in _IMPORT_CHANGES for arg in ("--change", change)]
        imported = subprocess.run(
            ["docker", "import", *changes, "-", tag], stdin=tar.stdout, capture_output=True, text=True
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise EngineError(f"docker import of the base image failed: {imported.stderr.strip()}")
    return time.perf_counter() - started


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise EngineError(f"{what} failed (exit {done.returncode}):\n{tail}")


def host_ca_bundle() -> Path | None:
    """The CA bundle the host's pip trusts: ``PIP_CERT``, else pip's configured ``cert``."""
    if os.environ.get("PIP_CERT"):
        return Path(os.environ["PIP_CERT"])
    value = _pip_config("cert")
    return Path(value) if value else None


def host_find_links() -> list[Path]:
    raw = " ".join(filter(None, (os.environ.get("PIP_FIND_LINKS"), _pip_config("find-links"))))
    return [Path(p) for p in raw.split() if p and not p.startswith(("http:", "https:"))]


def _pip_config(key: str) -> str | None:
    try:
        listed = subprocess.run(
            ["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        if name.split(".")[-1] == key:
            return value.strip().strip("'\"")
    return None


def prepare_context(offline_dir: Path, log: Callable[[str], None]) -> None:
    """Fill ``docker/offline/``: CA bundle + pip.conf, and the torch CPU wheel when the host has it."""
    offline_dir.mkdir(parents=True, exist_ok=True)
    ca = host_ca_bundle()
    conf = ["[global]", "disable-pip-version-check = true", "default-timeout = 180"]
    if ca and ca.is_file():
        shutil.copyfile(ca, offline_dir / "ca.pem")
        conf.append("cert = /opt/offline/ca.pem")
    _write_if_changed(offline_dir / "pip.conf", "\n".join(conf) + "\n")
    wheels = offline_dir / "wheels"
    wheels.mkdir(exist_ok=True)
    if not any(wheels.glob(TORCH_WHEEL_GLOB)):
        for folder in host_find_links():
            found = sorted(folder.glob(TORCH_WHEEL_GLOB)) if folder.is_dir() else []
            if found:
                log(f"torch wheel for the training image: {found[0]}")
                shutil.copyfile(found[0], wheels / found[0].name)
                break


def _write_if_changed(path: Path, text: str) -> None:
    """Unchanged bytes keep docker's build cache valid for the layers that copy this folder."""
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
