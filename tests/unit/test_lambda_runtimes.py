"""Runtime -> interpreter discovery and the per-runtime environment builder (localstack_plugin.runtimes)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from localstack_plugin import runtimes


def _fake_python(folder: Path, name: str, version: str) -> Path:
    """An executable that answers the version probe like a real interpreter would."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_runtime_names_are_checked() -> None:
    assert runtimes.runtime_version("python3.12") == "3.12"
    for bad in ("python3.8", "nodejs20.x", "python3", ""):
        with pytest.raises(runtimes.RuntimeNotAvailable, match="not supported"):
            runtimes.runtime_version(bad)


def test_every_runtime_has_one_pinned_set() -> None:
    assert set(runtimes.RUNTIME_PACKAGES) == set(runtimes.SUPPORTED)
    for pins in runtimes.RUNTIME_PACKAGES.values():
        names = {p.split("==")[0] for p in pins}
        assert names == {"awslambdaric", "boto3", "botocore"} and all("==" in p for p in pins)


def test_mapping_wins_then_path_then_pyenv_then_uv(tmp_path: Path) -> None:
    mapped = _fake_python(tmp_path / "mapped", "py", "3.12.9")
    on_path = _fake_python(tmp_path / "bin", "python3.12", "3.12.3")
    pyenv = _fake_python(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin", "python3.12", "3.12.1")
    uv = _fake_python(tmp_path / "uv" / "cpython-3.13.0-linux-x86_64-gnu" / "bin", "python3.13", "3.13.0")
    environ = {
        "PATH": str(tmp_path / "bin"),
        "PYENV_ROOT": str(tmp_path / "pyenv"),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv"),
        "HOME": str(tmp_path),
    }

    found = runtimes.find_interpreter("python3.12", {"python3.12": str(mapped)}, environ)
    assert (found.path, found.source, found.version) == (mapped, "setting", "3.12.9")
    assert runtimes.find_interpreter("python3.12", None, environ).path == on_path
    environ["PATH"] = ""
    assert runtimes.find_interpreter("python3.12", None, environ).path == pyenv
    found = runtimes.find_interpreter("python3.13", None, environ)
    assert (found.path, found.source) == (uv, "uv")


def test_a_name_that_lies_about_its_version_is_not_used(tmp_path: Path) -> None:
    _fake_python(tmp_path / "bin", "python3.10", "3.11.2")
    environ = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)}
    with pytest.raises(runtimes.RuntimeNotAvailable) as err:
        runtimes.find_interpreter("python3.10", None, environ)
    message = str(err.value)
    assert "no Python 3.10 interpreter found for runtime python3.10" in message
    assert "pyenv install 3.10" in message and "uv python install 3.10" in message
    assert "LAMBDA_PYTHON_INTERPRETERS=python3.10=" in message and "LAMBDA_PYTHON_FALLBACK" in message


def test_mapped_interpreter_of_the_wrong_version_is_an_error(tmp_path: Path) -> None:
    wrong = _fake_python(tmp_path, "py", "3.11.4")
    with pytest.raises(runtimes.RuntimeNotAvailable, match=r"is Python 3\.11\.4, not 3\.12"):
        runtimes.find_interpreter("python3.12", {"python3.12": str(wrong)}, {"PATH": ""})


def test_fallback_is_marked_inexact(tmp_path: Path) -> None:
    found = runtimes.find_interpreter(
        "python3.13", None, {"PATH": "", "HOME": str(tmp_path)}, fallback=sys.executable
    )
    assert found.exact is False and found.source == "fallback"
    assert found.version == ".".join(map(str, sys.version_info[:3]))


def test_mapping_syntax_errors_name_the_item() -> None:
    assert runtimes.parse_mapping(" python3.12=/a , python3.9=/b ") == {"python3.12": "/a", "python3.9": "/b"}
    with pytest.raises(runtimes.RuntimeNotAvailable, match=r"'python3\.12'"):
        runtimes.parse_mapping("python3.12")


def test_digest_changes_with_every_input() -> None:
    base = runtimes.Interpreter("python3.12", Path("/usr/bin/python3.12"), "3.12.1", "PATH")
    other_version = runtimes.Interpreter("python3.12", Path("/usr/bin/python3.12"), "3.12.2", "PATH")
    other_path = runtimes.Interpreter("python3.12", Path("/opt/python3.12"), "3.12.1", "PATH")
    digests = {runtimes.env_digest(i) for i in (base, other_version, other_path)}
    assert len(digests) == 3
    assert runtimes.env_digest(base) == runtimes.env_digest(base)


@pytest.mark.skipif(
    os.environ.get("CI") == "true" and not os.environ.get("LAMBDA_RUNTIME_BUILD_TEST"),
    reason="builds a venv from PyPI (about a minute); the e2e tier builds the same environments",
)
def test_environment_is_built_once_and_has_only_the_runtime_packages(tmp_path: Path) -> None:
    interpreter = runtimes.find_interpreter(f"python{sys.version_info[0]}.{sys.version_info[1]}")
    env = runtimes.ensure_runtime_env(interpreter, tmp_path)
    marker = env.root / ".lambda-runtime.json"
    built_at = marker.stat().st_mtime_ns
    assert runtimes.ensure_runtime_env(interpreter, tmp_path) == env
    assert marker.stat().st_mtime_ns == built_at, "a complete environment is reused, not rebuilt"
    import subprocess

    probe = (
        "import boto3, awslambdaric, importlib.util as u; "
        "print(boto3.__version__, u.find_spec('pip'), u.find_spec('moto'))"
    )
    out = subprocess.run(
        [str(env.python), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [runtimes.RUNTIME_PACKAGES[interpreter.runtime][1].split("==")[1], "None", "None"]
