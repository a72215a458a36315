"""Settings: defaults < ``harness.toml`` < ``HARNESS_*`` environment variables < command-line flags.

One flat dataclass keeps every knob in one place, so the CLI, the tests and the
benchmarks all build their runs from the same object instead of passing loose
arguments around. Field names are the keys of ``harness.toml`` and, upper-cased
with a ``HARNESS_`` prefix, the environment variables (``HARNESS_BUCKET``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

# builtin: SageMaker's image-classification image; image: the project's own (training/Dockerfile).
ALGORITHMS = ("builtin", "image")
# enforce: a call the caller's role does not allow fails as on AWS; log: it is served and logged; off.
IAM_MODES = ("enforce", "log", "off")
# namespace: each execution environment gets a private /tmp (a mount namespace; user namespaces where the
# OS allows them to non-root users); dir: a folder of its own as TMPDIR only (docs/lambda-runtime.md).
TMP_ISOLATION_MODES = ("namespace", "dir")
CONFIG_FILE = "harness.toml"
ENV_PREFIX = "HARNESS_"


class SettingsError(ValueError):
    """A setting has a value the harness cannot use; the message names the setting and its source."""


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scones-harness"


@dataclass
class Settings:
    """Everything a run can be configured with. See README "Configuration" for each field."""

    target: str = "local"
    region: str = "us-east-1"
    profile: str | None = None

    # S3 layout: data under <data_prefix>train/ ..., captures under <capture_prefix>/<endpoint>/...
    bucket: str = "scones-unlimited"
    data_prefix: str = ""
    capture_prefix: str = "data_capture"
    model_prefix: str = "models"
    # Event path (under data_prefix): photos uploaded under incoming_prefix with one of photo_suffixes
    # (comma-separated) start the classification state machine; results land under results_prefix.
    incoming_prefix: str = "incoming/"
    results_prefix: str = "results/"
    photo_suffixes: str = ".png,.jpg,.jpeg"

    # Workflow
    threshold: float = 0.93
    training_instance_type: str = "ml.p2.xlarge"
    inference_instance_type: str = "ml.m5.xlarge"
    # Training hyperparameters (built-in algorithm names). Unset ones are not sent, so the
    # algorithm's own defaults apply.
    epochs: int = 30
    mini_batch_size: int | None = None
    learning_rate: float | None = None
    num_layers: int | None = None
    # The project's training/serving image (ECR URI); unset = the built-in image-classification image.
    training_image: str | None = None
    # builtin | image; unset = image when training_image is set, else builtin (see docs/parity.md).
    algorithm: str | None = None
    endpoint_name: str = "scones-image-classifier"
    execution_role_arn: str | None = None

    # Where the harness keeps its state (LocalStack data, emulator state, logs) and its download cache.
    home: Path = field(default_factory=lambda: Path(".harness"))
    cache_dir: Path = field(default_factory=_default_cache_dir)

    # Lambda runtimes of the embedded cloud (docs/lambda-runtime.md): "python3.12=/path,..." maps runtimes
    # to interpreters (else found on PATH, pyenv, uv); lambda_version_fallback runs a function whose Python
    # is missing on another version, with a warning in every invocation's log.
    lambda_interpreters: str = ""
    lambda_version_fallback: bool = False
    # Execution environments (processes or containers) per function at most; more concurrent invocations
    # wait for one to be free rather than fork hundreds of processes (0 = no cap; docs/lambda-runtime.md).
    lambda_max_environments: int = 32
    # IAM evaluation of the calls functions and state machines make: enforce | log | off.
    iam_enforcement: str = "enforce"
    # How each execution environment's /tmp is isolated: namespace (best the OS allows) | dir.
    lambda_tmp_isolation: str = "namespace"

    # Embedded cloud ports (always bound to 127.0.0.1).
    localstack_port: int = 4566
    sagemaker_port: int = 4577

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not self.target:
            raise SettingsError("target must name a target (harness.targets.registry), got ''")
        if not 0.0 <= self.threshold <= 1.0:
            raise SettingsError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.lambda_max_environments < 0:
            raise SettingsError(
                f"lambda_max_environments must be 0 (no cap) or more, got {self.lambda_max_environments}"
            )
        if self.epochs < 1:
            raise SettingsError(f"epochs must be at least 1, got {self.epochs}")
        if not self.bucket:
            raise SettingsError("bucket must not be empty")
        if self.algorithm not in (None, *ALGORITHMS):
            raise SettingsError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if self.algorithm == "image" and not self.training_image:
            raise SettingsError(
                "algorithm 'image' needs training_image: the URI of the project's training/serving image "
                "(an ECR URI on aws, scones-training:latest under docker compose; see docs/parity.md)"
            )
        if self.iam_enforcement not in IAM_MODES:
            raise SettingsError(
                f"iam_enforcement must be one of {', '.join(IAM_MODES)}, got {self.iam_enforcement!r}"
            )
        if self.lambda_tmp_isolation not in TMP_ISOLATION_MODES:
            raise SettingsError(
                f"lambda_tmp_isolation must be one of {', '.join(TMP_ISOLATION_MODES)}, "
                f"got {self.lambda_tmp_isolation!r}"
            )
        if self.data_prefix and not self.data_prefix.endswith("/"):
            self.data_prefix += "/"
        self.capture_prefix = self.capture_prefix.strip("/")
        for name in ("incoming_prefix", "results_prefix"):
            value = getattr(self, name).strip("/")
            if not value or any(c in value for c in "*\\"):
                raise SettingsError(
                    f"{name} must be a non-empty S3 prefix without '*' or '\\', got {value!r}"
                )
            setattr(self, name, value + "/")
        if self.incoming_prefix.startswith(self.results_prefix) or self.results_prefix.startswith(
            self.incoming_prefix
        ):
            raise SettingsError(
                f"incoming_prefix {self.incoming_prefix!r} and results_prefix {self.results_prefix!r} "
                "must not overlap (a result written under incoming/ would start another execution)"
            )
        if not self.suffixes:
            raise SettingsError(f"photo_suffixes must name at least one suffix, got {self.photo_suffixes!r}")
        self.model_prefix = self.model_prefix.strip("/")
        self.home = Path(self.home)
        self.cache_dir = Path(self.cache_dir)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied; ``None`` values mean "not given" and are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def suffixes(self) -> list[str]:
        """``photo_suffixes`` as a list (``[".png", ".jpg"]``)."""
        return [s.strip() for s in self.photo_suffixes.split(",") if s.strip() and "*" not in s]

    @property
    def capture_uri(self) -> str:
        return f"s3://{self.bucket}/{self.capture_prefix}"

    def data_key(self, relative: str) -> str:
        """The S3 key of a staged file, e.g. ``data_key("train.lst")``."""
        return f"{self.data_prefix}{relative}"


def to_toml(settings: Settings) -> str:
    """The settings as a ``harness.toml`` (``[harness]`` table) that :func:`load_settings` reads back.

    Unset (``None``) settings are left out: TOML has no null, and leaving them out means "default".
    """
    table: dict[str, Any] = {}
    for name, value in vars(settings).items():
        if value is None:
            continue
        table[name] = str(value) if isinstance(value, Path) else value
    return tomli_w.dumps({"harness": table})


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Settings)


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Turn a TOML or environment value into the field's type, naming the source when it cannot."""
    hint = _field_types()[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    kind = args[0] if args else hint
    if raw is None:
        return None
    try:
        if kind is Path:
            return Path(str(raw)).expanduser()
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            return str(raw).lower() in ("1", "true", "yes", "on")
        if kind in (int, float):
            if isinstance(raw, bool):
                raise ValueError("booleans are not numbers")
            return kind(raw)
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} from {source}: cannot read {raw!r} as {kind.__name__}") from exc


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from the layers in order; ``overrides`` are flag values (``None`` = not given).

    ``config_file`` defaults to ``./harness.toml`` when it exists; an explicitly
    named file must exist. Unknown keys are errors, so a typo does not silently
    fall back to a default.
    """
    environ = dict(os.environ if environ is None else environ)
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    path = config_file
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = Path(environ[ENV_PREFIX + "CONFIG"])
    explicit = path is not None
    path = path or Path(CONFIG_FILE)
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML ({exc})") from exc
        table = data.get("harness", data)
        for key, raw in table.items():
            name = key.replace("-", "_")
            if name not in names:
                raise SettingsError(f"{path}: unknown setting {key!r}")
            values[name] = _coerce(name, raw, str(path))
    elif explicit:
        raise SettingsError(f"config file {path} does not exist")

    for name in names:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ and environ[env_name] != "":
            values[name] = _coerce(name, environ[env_name], env_name)

    for name, raw in overrides.items():
        if name not in names:
            raise SettingsError(f"unknown setting {name!r}")
        if raw is not None:
            values[name] = _coerce(name, raw, f"--{name.replace('_', '-')}")

    return Settings(**values)
