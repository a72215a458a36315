"""Lambda Python runtimes: which interpreter runs ``python3.X``, and the environment that runtime has.

AWS runs a function declared ``python3.12`` on Python 3.12 with nothing but the standard library, the
runtime's own ``boto3``/``botocore`` and ``awslambdaric``, the function's code and its layers. To make a
local pass mean an AWS pass, each runtime here gets

* an interpreter of exactly that version, found by :func:`find_interpreter` (an explicit mapping first,
  then ``python3.X`` on ``PATH``, pyenv's and uv's managed interpreters), and
* a virtual environment of its own (:func:`ensure_runtime_env`) built from that interpreter with the
  pinned packages of :data:`RUNTIME_PACKAGES`, under a cache folder, keyed by a digest of its inputs
  (interpreter, its version, the pins): built once, reused, rebuilt when an input changes.

This module uses only the standard library and knows nothing of LocalStack, so the harness, its tests
and a container image builder can use the same pins and the same builder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")

# One pinned set per runtime, as AWS's runtime images carry one set each. awslambdaric 4.2.x needs
# Python >= 3.10 and boto3 1.43+ dropped 3.9, so python3.9 keeps the last releases that support it.
_CURRENT = ("awslambdaric==4.2.2", "boto3==1.44.8", "botocore==1.44.8")
RUNTIME_PACKAGES: dict[str, tuple[str, ...]] = {
    "python3.9": ("awslambdaric==4.0.4", "boto3==1.42.97", "botocore==1.42.97"),
    "python3.10": _CURRENT,
    "python3.11": _CURRENT,
    "python3.12": _CURRENT,
    "python3.13": _CURRENT,
}
# Bumped when the layout of a built environment changes, so old ones are rebuilt.
BUILDER_VERSION = 1
_MARKER = ".lambda-runtime.json"
_VERSION_RE = re.compile(r"^python(3\.\d+)$")


class RuntimeNotAvailable(RuntimeError):
    """No interpreter for a runtime, or its environment could not be built; says how to fix it."""


@dataclass(frozen=True)
class Interpreter:
    """An interpreter found for a runtime; ``exact`` is False when another version stands in for it."""

    runtime: str
    path: Path
    version: str  # "3.12.1"
    source: str  # "setting", "PATH", "pyenv", "uv", "fallback"
    exact: bool = True


def runtime_version(runtime: str) -> str:
    """``python3.12`` -> ``3.12``; any other runtime is an error naming the supported ones."""
    match = _VERSION_RE.match(runtime or "")
    if not match or runtime not in SUPPORTED:
        raise RuntimeNotAvailable(
            f"runtime {runtime!r} is not supported by the local executor (supported: {', '.join(SUPPORTED)})"
        )
    return match.group(1)


def parse_mapping(text: str) -> dict[str, str]:
    """``"python3.12=/usr/bin/python3.12,python3.9=/opt/py39/bin/python"`` -> a dict; bad items are errors."""
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        runtime, sep, path = item.partition("=")
        if not sep or not path.strip():
            raise RuntimeNotAvailable(f"interpreter mapping item {item!r} is not of the form python3.X=/path")
        runtime_version(runtime.strip())
        mapping[runtime.strip()] = path.strip()
    return mapping


def probe(path: str | Path) -> str | None:
    """The ``major.minor.micro`` version an interpreter reports, or ``None`` when it does not run.

    Asking the interpreter (rather than trusting its name) matters: a pyenv shim named ``python3.12``
    exists even when pyenv would refuse to run 3.12.
    """
    try:
        out = subprocess.run(
            [str(path), "-I", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = out.stdout.strip()
    return version if out.returncode == 0 and re.match(r"^\d+\.\d+\.\d+$", version) else None


def _candidates(version: str, environ: Mapping[str, str]) -> Iterator[tuple[str, Path]]:
    name = f"python{version}"
    for folder in environ.get("PATH", "").split(os.pathsep):
        if folder and "shims" not in Path(folder).parts[-1:]:  # shims are resolved through pyenv below
            yield "PATH", Path(folder) / name
    pyenv_root = Path(environ.get("PYENV_ROOT") or Path(environ.get("HOME", "/root")) / ".pyenv")
    for found in sorted((pyenv_root / "versions").glob(f"{version}.*"), key=_natural, reverse=True):
        yield "pyenv", found / "bin" / name
    uv_dirs = [environ.get("UV_PYTHON_INSTALL_DIR", "")]
    data_home = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME", "/root")) / ".local" / "share")
    uv_dirs.append(str(Path(data_home) / "uv" / "python"))
    for base in filter(None, uv_dirs):
        for found in sorted(Path(base).glob(f"cpython-{version}.*"), key=_natural, reverse=True):
            yield "uv", found / "bin" / name


def _natural(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]


def find_interpreter(
    runtime: str,
    mapping: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    fallback: str | None = None,
) -> Interpreter:
    """The interpreter that runs ``runtime``: the mapping, then PATH, pyenv, uv; else ``fallback``.

    ``fallback`` (an interpreter path) is used only when nothing of the right version exists, and the
    result says so (``exact=False``) so every invocation can warn. Without one, the error names the
    missing version and the ways to get it.
    """
    version = runtime_version(runtime)
    environ = os.environ if environ is None else environ
    mapped = (mapping or {}).get(runtime)
    if mapped:
        found = probe(mapped)
        if found is None or not found.startswith(version + "."):
            raise RuntimeNotAvailable(
                f"the interpreter mapped to {runtime} ({mapped}) "
                + ("does not run" if found is None else f"is Python {found}, not {version}")
            )
        return Interpreter(runtime, Path(mapped), found, "setting")
    seen: set[Path] = set()
    for source, path in _candidates(version, environ):
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        found = probe(path)
        if found is not None and found.startswith(version + "."):
            return Interpreter(runtime, path, found, source)
    if fallback:
        found = probe(fallback)
        if found is not None:
            return Interpreter(runtime, Path(fallback), found, "fallback", exact=False)
    raise RuntimeNotAvailable(
        f"no Python {version} interpreter found for runtime {runtime} (looked for python{version} on PATH, "
        f"in pyenv's and uv's managed interpreters). Install one (`pyenv install {version}` or "
        f"`uv python install {version}`), map one with LAMBDA_PYTHON_INTERPRETERS="
        f"{runtime}=/path/to/python{version} (harness setting lambda_interpreters), or allow another version "
        "with LAMBDA_PYTHON_FALLBACK=1 (harness setting lambda_version_fallback)"
    )


@dataclass(frozen=True)
class RuntimeEnv:
    """A built runtime environment: the interpreter handlers run with, inside its own venv."""

    runtime: str
    python: Path  # <env>/bin/python
    root: Path
    interpreter: Interpreter


def env_digest(interpreter: Interpreter) -> str:
    """What a runtime environment is built from; a change of any of these means a rebuild."""
    inputs = {
        "builder": BUILDER_VERSION,
        "runtime": interpreter.runtime,
        "interpreter": str(interpreter.path),
        "version": interpreter.version,
        "packages": list(RUNTIME_PACKAGES[interpreter.runtime]),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def ensure_runtime_env(interpreter: Interpreter, cache_dir: Path, log: Path | None = None) -> RuntimeEnv:
    """The runtime's venv under ``cache_dir``, built now if it is missing, incomplete or out of date.

    Built in a temporary folder and renamed into place, with a marker written last, under a file lock:
    parallel builders (two LocalStacks, two test sessions) never see a half-built environment.
    """
    digest = env_digest(interpreter)
    cache_dir = cache_dir.expanduser().resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = cache_dir / f"{interpreter.runtime}-{digest}"
    env = RuntimeEnv(interpreter.runtime, root / "bin" / "python", root, interpreter)
    if (root / _MARKER).is_file():
        return env
    with _locked(cache_dir / f"{interpreter.runtime}.lock"):
        if (root / _MARKER).is_file():
            return env
        staging = cache_dir / f".{root.name}.building"
        shutil.rmtree(staging, ignore_errors=True)
        log = log or cache_dir / f"{interpreter.runtime}.build.log"
        steps = [
            [str(interpreter.path), "-m", "venv", str(staging)],
            [
                str(staging / "bin" / "python"),
                *("-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"),
                *RUNTIME_PACKAGES[interpreter.runtime],
            ],
        ]
        with open(log, "w") as out:
            for cmd in steps:
                result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
                if result.returncode != 0:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise RuntimeNotAvailable(
                        f"building the {interpreter.runtime} runtime environment failed at "
                        f"{' '.join(cmd[:4])} ... (exit {result.returncode}); see {log}"
                    )
        # pip is a build tool, not part of AWS's runtime: handlers must not find it.
        for leftover in (staging / "lib").glob("python*/site-packages/pip*"):
            shutil.rmtree(leftover, ignore_errors=True)
        # venv paths are absolute: rename before anything records them, then fix the scripts' shebangs.
        shutil.rmtree(root, ignore_errors=True)
        os.replace(staging, root)
        _relocate(staging, root)
        marker = {"digest": digest, "packages": list(RUNTIME_PACKAGES[interpreter.runtime])}
        marker.update(interpreter=str(interpreter.path), version=interpreter.version)
        (root / f"{_MARKER}.tmp").write_text(json.dumps(marker, indent=2) + "\n")
        os.replace(root / f"{_MARKER}.tmp", root / _MARKER)
    return env


def _relocate(old: Path, new: Path) -> None:
    """Rewrite the old prefix in the venv's config and scripts after the rename."""
    for path in [new / "pyvenv.cfg", *(new / "bin").iterdir()]:
        if path.is_file() and not path.is_symlink():
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            if str(old) in text:
                path.write_text(text.replace(str(old), str(new)))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
