"""LocalStack on the host: its own virtual environment, the executor plugin in it, and how to start it.

localstack-core 4.9.2 pins boto3/botocore 1.40.40 and its own moto, which pip cannot resolve together
with the project's boto3/moto/sagemaker, so LocalStack lives in a separate venv that the harness builds
on first use under ``settings.cache_dir`` and reuses afterwards (a marker file written last says the
build is complete; an incomplete build is wiped and redone). Lambda handlers run in neither that venv
nor the harness's: each runtime gets its own environment (``localstack_plugin.runtimes``) under
``runtime_cache_dir``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from harness import sfn_mocks
from harness.config import Settings
from localstack_plugin import runtimes

LOCALSTACK_PINS = (
    "localstack-core[runtime]==4.9.2",
    "cbor2<6",
    "pyopenssl<26",
    "cryptography>=45.0.7,<47",
    "psutil<7",
    "service-identity",
    # Step Functions' JSONata, evaluated in Python by localstack_plugin/patches/sfn_jsonata.py instead
    # of LocalStack's JVM bridge (Java 21 + Maven jars downloaded on first use: impossible offline).
    "jsonata-python==0.7.1",
)
# sagemaker and sagemaker-runtime are served by the plugin's providers, which forward to the emulator: with
# STRICT_SERVICE_LOADING (LocalStack's default) a provider only loads for a service listed here.
SERVICES = "s3,lambda,stepfunctions,iam,sts,logs,events,sagemaker,sagemaker-runtime"
SAGEMAKER_PROVIDER = "emulator"  # the provider name in localstack_plugin/pyproject.toml
EXECUTOR_NAME = "local"  # the entry-point name in localstack_plugin/pyproject.toml
# The plugin ships inside this distribution as the package `localstack_plugin`, its pyproject.toml as
# package data, so an installed (non-editable) harness can still install it into LocalStack's venv.
PLUGIN_DIR = Path(importlib.util.find_spec("localstack_plugin").origin).parent  # type: ignore[arg-type, union-attr]
_MARKER = ".harness-venv.json"
S3_STORAGE_ENV = "SCONES_S3_STORAGE_DIR"  # read by localstack_plugin/s3_provider.py
S3_PROVIDER = "harness"  # the provider name in localstack_plugin/pyproject.toml
# Variables of the caller that must not reach LocalStack: its own venv, and AWS settings meant for clients.
_DROPPED_ENV_PREFIXES = ("AWS_", "PYTHON", "VIRTUAL_ENV", "LOCALSTACK_", "GATEWAY_", "LAMBDA_")


class LocalStackSetupError(RuntimeError):
    """The LocalStack venv could not be built; the message names the failing step and its log."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one LocalStack: command, environment and the folders it owns."""

    cmd: list[str]
    env: dict[str, str]
    state_dir: Path
    url: str
    health_url: str


def venv_dir(settings: Settings) -> Path:
    return settings.cache_dir.expanduser().resolve() / "localstack-venv"


def runtime_cache_dir(settings: Settings) -> Path:
    """Where the Lambda runtime environments (one venv per Python runtime) are built and kept."""
    return settings.cache_dir.expanduser().resolve() / "lambda-runtimes"


def prebuild_runtime(settings: Settings, console: Console, runtime: str = "python3.11") -> threading.Thread:
    """Build ``runtime``'s Lambda environment in the background (the first ``harness up`` only).

    LocalStack would build it on the first CreateFunction anyway (the function stays ``Pending`` until
    then); doing it while LocalStack starts keeps the first deploy as fast as the next ones. A failure
    is only reported: the function's own state will say what is missing.
    """

    def build() -> None:
        try:
            mapping = runtimes.parse_mapping(settings.lambda_interpreters)
            interpreter = runtimes.find_interpreter(runtime, mapping=mapping)
            runtimes.ensure_runtime_env(interpreter, runtime_cache_dir(settings))
        except runtimes.RuntimeNotAvailable as exc:
            console.print(f"[yellow]![/] Lambda runtime {runtime}: {exc}")

    thread = threading.Thread(target=build, name=f"prebuild-{runtime}", daemon=True)
    thread.start()
    return thread


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def plugin_digest() -> str:
    """Hash of the plugin's source, so an edited plugin is reinstalled into an existing venv."""
    digest = hashlib.sha256()
    for path in sorted(PLUGIN_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".toml"):
            digest.update(str(path.relative_to(PLUGIN_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def wanted_marker() -> dict[str, object]:
    return {"pins": list(LOCALSTACK_PINS), "python": sys.version.split()[0]}


def ensure_venv(settings: Settings, console: Console | None = None) -> Path:
    """Return LocalStack's interpreter, building its venv and installing the plugin when needed."""
    venv = venv_dir(settings)
    venv.parent.mkdir(parents=True, exist_ok=True)
    console = console or Console(stderr=True)
    with _locked(venv.parent / "localstack-venv.lock"):
        marker = _read_marker(venv)
        if {k: marker.get(k) for k in ("pins", "python")} != wanted_marker():
            _build(venv, console)
            marker = wanted_marker()
            _write_marker(venv, marker)
        digest = plugin_digest()
        if marker.get("plugin") != digest:
            _install_plugin(venv, console)
            marker["plugin"] = digest
            _write_marker(venv, marker)
    return venv_python(venv)


def launch_spec(settings: Settings, python: Path) -> LaunchSpec:
    """The command and environment that start LocalStack on 127.0.0.1:<localstack_port>."""
    home = settings.home.expanduser().resolve()
    state = home / "localstack"
    port = settings.localstack_port
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update(
        {
            # LocalStack's default server (twisted), which keeps connections alive; it listens on 127.0.0.1
            # only with localstack_plugin/patches/gateway_listen_host.py (4.9.2 drops an IPv4 host).
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "GATEWAY_SERVER": "twisted",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            # LocalStack (re)writes its TLS certificate at every start, by default at one place per machine
            # (<venv>/.filesystem/var/lib/localstack/cache/server.test.pem, utils/ssl.get_cert_pem_file_path):
            # two homes starting at once read each other's half-written file ("no start line"). One per home.
            "CUSTOM_SSL_CERT_PATH": str(state / "server.test.pem"),
            "SERVICES": SERVICES,
            "LAMBDA_RUNTIME_EXECUTOR": EXECUTOR_NAME,
            "LAMBDA_EXECUTOR_PYTHON": sys.executable,  # the base of a fallback runtime only
            "LAMBDA_RUNTIME_CACHE": str(runtime_cache_dir(settings)),
            "LAMBDA_PYTHON_INTERPRETERS": settings.lambda_interpreters,
            "LAMBDA_PYTHON_FALLBACK": "1" if settings.lambda_version_fallback else "0",
            "HARNESS_IAM_ENFORCEMENT": settings.iam_enforcement,
            "HARNESS_LAMBDA_MAX_ENVIRONMENTS": str(settings.lambda_max_environments),
            # Read by localstack_plugin/sandbox.py: namespace (private /tmp) | dir (a TMPDIR of its own).
            "LAMBDA_TMP_ISOLATION": settings.lambda_tmp_isolation,
            # sagemaker:* state tasks go to the emulator (localstack_plugin/patches/sfn_sagemaker.py)
            "SCONES_SAGEMAKER_ENDPOINT": f"http://127.0.0.1:{settings.sagemaker_port}",
            # SageMaker on the main port, forwarded to the emulator on its own port (one endpoint for all).
            "PROVIDER_OVERRIDE_SAGEMAKER": SAGEMAKER_PROVIDER,
            "PROVIDER_OVERRIDE_SAGEMAKER_RUNTIME": SAGEMAKER_PROVIDER,
            "SAGEMAKER_EMULATOR_URL": f"http://127.0.0.1:{settings.sagemaker_port}",
            # LocalStack deletes its temp folder on shutdown; keep it (and the unzipped code) in ours.
            "TMPDIR": str(state / "tmp"),
            "LOCALSTACK_VOLUME_DIR": str(state / "volume"),
            # S3 spills objects over 512 KB to /tmp/localstack-s3-storage/<bucket> whatever TMPDIR says,
            # and DeleteBucket removes that folder: two stacks on one machine would share (and delete)
            # each other's: LocalStack's own S3 provider, built with its storage here
            # (localstack_plugin/s3_provider.py).
            "PROVIDER_OVERRIDE_S3": S3_PROVIDER,
            S3_STORAGE_ENV: str(state / "s3-storage"),
            # Read once at start; LocalStack re-reads the file when its mtime changes, so
            # `harness sfn-test` and the tests swap mock configs without a restart (harness/sfn_mocks.py).
            "SFN_MOCK_CONFIG": str(sfn_mocks.active_path(settings)),
        }
    )
    url = f"http://127.0.0.1:{port}"
    return LaunchSpec(
        cmd=[str(python), "-m", "localstack.runtime.main"],
        env=env,
        state_dir=state,
        url=url,
        health_url=f"{url}/_localstack/health",
    )


def _build(venv: Path, console: Console) -> None:
    log = venv.parent / "localstack-venv.log"
    if venv.exists():
        shutil.rmtree(venv)
    steps = [
        ("creating the LocalStack venv", [sys.executable, "-m", "venv", str(venv)]),
        (
            "installing localstack-core 4.9.2 (first run only, about a minute)",
            [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", *LOCALSTACK_PINS],
        ),
    ]
    with open(log, "w") as out:
        for title, cmd in steps:
            _run_step(title, cmd, out, log, console)


def _install_plugin(venv: Path, console: Console) -> None:
    """Install a copy of the plugin, so the build writes nothing into the source tree."""
    log = venv.parent / "localstack-venv.log"
    with tempfile.TemporaryDirectory(prefix="local-lambda-executor-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(PLUGIN_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        cmd = [
            str(venv_python(venv)),
            *(
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-deps",
                "--force-reinstall",
                str(src),
            ),
        ]
        with open(log, "a") as out:
            _run_step("installing the local Lambda executor plugin", cmd, out, log, console)


def _run_step(title: str, cmd: list[str], out: object, log: Path, console: Console) -> None:
    with console.status(f"[bold]{title}[/] (log: {log})"):
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)  # type: ignore[arg-type]
    if result.returncode != 0:
        raise LocalStackSetupError(f"{title} failed (exit {result.returncode}); see {log}")
    console.print(f"[green]✓[/] {title}")


def _read_marker(venv: Path) -> dict[str, object]:
    try:
        data = json.loads((venv / _MARKER).read_text())
    except (OSError, ValueError):
        return {}
    if not venv_python(venv).exists():
        return {}
    return data if isinstance(data, dict) else {}


def _write_marker(venv: Path, marker: dict[str, object]) -> None:
    tmp = venv / f"{_MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, venv / _MARKER)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time (parallel test sessions, two terminals)."""
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
