"""What one ``harness run`` on a billing target costs: the price table and the cost model.

Prices are AWS list prices recorded on :data:`PRICES_DATE`, assumptions for an estimate rather than
fetched live; the durations are the original project's runs. ``harness doctor`` and ``harness run``'s
confirmation print the estimate with its assumptions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.config import Settings

# Prices: AWS list prices, us-east-1, on-demand, USD, as recorded on PRICES_DATE. They are
# assumptions for an estimate, not fetched live; other regions differ (often 10-30% more).
PRICES_DATE = "2025-10"
TRAINING_USD_PER_HOUR = {
    "ml.p2.xlarge": 1.125,
    "ml.g4dn.xlarge": 0.736,
    "ml.p3.2xlarge": 3.825,
    "ml.g5.xlarge": 1.408,
    "ml.m5.xlarge": 0.23,
    "ml.m5.large": 0.115,
    "ml.c5.xlarge": 0.204,
}
HOSTING_USD_PER_HOUR = {
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.t2.medium": 0.056,
    "ml.c5.large": 0.102,
    "ml.g4dn.xlarge": 0.736,
}
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_USD_PER_GB_SECOND = 0.0000166667
STATES_USD_PER_TRANSITION = 0.025 / 1000
S3_USD_PER_PUT = 0.005 / 1000
S3_USD_PER_GET = 0.0004 / 1000

# Durations: the original project's runs (training job ~12 min for 30 epochs including
# instance start-up and image download; endpoint ~5-8 min to come InService).
TRAINING_STARTUP_MIN = 4.0
TRAINING_MIN_PER_EPOCH = 8.0 / 30
ENDPOINT_CREATE_MIN = 8.0
SECONDS_PER_EXECUTION = 3.0  # Step Functions execution, three Lambda calls, on a warm endpoint
LAMBDA_SECONDS_PER_CALL = 0.5
STATE_TRANSITIONS_PER_EXECUTION = 5
STAGED_FILES = 1202  # 1000 + 200 PNGs and two manifests


@dataclass
class CostLine:
    item: str
    quantity: str
    usd: float


@dataclass
class CostEstimate:
    lines: list[CostLine] = field(default_factory=list)
    per_hour_kept_usd: float = 0.0  # what the endpoint costs per hour while it is left running
    assumptions: list[str] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return round(sum(line.usd for line in self.lines), 4)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_usd": self.total_usd}


def estimate_cost(settings: Settings, executions: int = 200, keep_endpoint: bool = False) -> CostEstimate:
    """What one ``harness run --target aws`` costs at list prices (see PRICES_DATE and the assumptions)."""
    est = CostEstimate()
    train_min = TRAINING_STARTUP_MIN + TRAINING_MIN_PER_EPOCH * settings.epochs
    run_s = executions * SECONDS_PER_EXECUTION / 8  # 8 executions in flight (harness run's default)
    endpoint_min = ENDPOINT_CREATE_MIN + run_s / 60
    train_price = TRAINING_USD_PER_HOUR.get(settings.training_instance_type)
    host_price = HOSTING_USD_PER_HOUR.get(settings.inference_instance_type)
    if train_price is None:
        est.assumptions.append(
            f"no price on file for {settings.training_instance_type} training: counted as 0"
        )
    if host_price is None:
        est.assumptions.append(
            f"no price on file for {settings.inference_instance_type} hosting: counted as 0"
        )
    calls = executions * 3
    est.lines = [
        CostLine(
            f"training {settings.training_instance_type}",
            f"{train_min:.0f} min",
            (train_price or 0) * train_min / 60,
        ),
        CostLine(
            f"endpoint {settings.inference_instance_type}",
            f"{endpoint_min:.0f} min",
            (host_price or 0) * endpoint_min / 60,
        ),
        CostLine(
            "Lambda",
            f"{calls} calls",
            calls * (LAMBDA_USD_PER_REQUEST + LAMBDA_USD_PER_GB_SECOND * 0.25 * LAMBDA_SECONDS_PER_CALL),
        ),
        CostLine(
            "Step Functions",
            f"{executions * STATE_TRANSITIONS_PER_EXECUTION} transitions",
            executions * STATE_TRANSITIONS_PER_EXECUTION * STATES_USD_PER_TRANSITION,
        ),
        CostLine(
            "S3 requests",
            f"{STAGED_FILES + executions} PUT, {STAGED_FILES + executions} GET",
            (STAGED_FILES + executions) * (S3_USD_PER_PUT + S3_USD_PER_GET),
        ),
    ]
    for line in est.lines:
        line.usd = round(line.usd, 4)
    est.per_hour_kept_usd = host_price or 0.0
    est.assumptions[:0] = [
        f"AWS list prices, us-east-1, on-demand, recorded {PRICES_DATE}; other regions differ",
        f"training {TRAINING_STARTUP_MIN:g} min start-up + {TRAINING_MIN_PER_EPOCH * 60:.0f} s per epoch "
        f"({settings.epochs} epochs); endpoint {ENDPOINT_CREATE_MIN:g} min to come InService",
        f"{executions} executions, 8 in flight, {SECONDS_PER_EXECUTION:g} s each; free tiers not deducted",
    ]
    if keep_endpoint:
        est.assumptions.append(f"--keep-endpoint: the endpoint then costs ${est.per_hour_kept_usd:.3f}/h")
    return est
