"""Which model (endpoint config / variant) served each captured inference.

A capture line cannot say: the service writes ``captureData`` and ``eventMetadata`` (``eventId``,
``inferenceTime``, optional ``inferenceId``) and files under ``<destination>/<endpoint>/<variant>/
yyyy/mm/dd/hh/`` (AWS docs, "Capture data from real-time endpoint"; the emulator writes the same),
with no endpoint config or model name. Nor does SageMaker keep an endpoint's config history
(DescribeEndpoint names only the current config). So the history is rebuilt from the account's
endpoint configs: those whose ``DataCaptureConfig`` writes to the capture destination the report
reads and that no other endpoint is serving now (ListEndpoints / DescribeEndpoint: endpoints sharing a
capture destination write under their own names, so their configs are not this one's), taken in
``CreationTime`` order (ListEndpointConfigs / DescribeEndpointConfig). Each
inference is attributed to the newest such config created at or before it. A config is created
before the endpoint is updated to it, so inferences made while an update was under way can be
attributed to the new config although the old one answered: the report says so beside the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.aws_errors import is_not_found

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import pandas as pd

METHOD = (
    "Capture lines do not name the model that answered; each inference is attributed to the newest "
    "endpoint config writing to this capture destination, and not serving another endpoint, that was "
    "created at or before it (ListEndpointConfigs, DescribeEndpointConfig CreationTime). Inferences "
    "made while an UpdateEndpoint was still under way may be attributed to the new config although "
    "the old one answered."
)
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConfigChange:
    """One endpoint config that may have served: from its ``created`` time on, these models answered."""

    config: str
    created: datetime
    models: dict[str, str]  # variant name -> model name
    current: bool = False  # the config DescribeEndpoint names now

    def model_of(self, variant: str) -> str:
        return self.models.get(variant) or ", ".join(sorted(set(self.models.values()))) or UNKNOWN


@dataclass
class History:
    """The configs in ``created`` order; ``problem`` says why there is no history when there is none."""

    changes: list[ConfigChange] = field(default_factory=list)
    endpoint_modified: datetime | None = None
    problem: str | None = None


def _destination(uri: str) -> str:
    return uri.rstrip("/")


def _pages(sm: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in sm.get_paginator(operation).paginate(**params):
        items.extend(page.get(key, []))
    return items


def load_history(sm: Any, endpoint: str, destination: str, first: datetime, last: datetime) -> History:
    """Configs capturing to ``destination`` that may have served between ``first`` and ``last``.

    Never raises for an unreachable or refusing SageMaker: the report then shows no model marking
    and names the cause.
    """
    try:
        return _load(sm, endpoint, _destination(destination), first, last)
    except (ClientError, BotoCoreError) as exc:
        return History(problem=f"the endpoint's config history could not be read: {exc}")


def _load(sm: Any, endpoint: str, destination: str, first: datetime, last: datetime) -> History:
    current: str | None = None
    modified: datetime | None = None
    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
        current, modified = described.get("EndpointConfigName"), described.get("LastModifiedTime")
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    others = _configs_of_other_endpoints(sm, endpoint) - {current}
    listed = sorted(
        _pages(sm, "list_endpoint_configs", "EndpointConfigs"), key=lambda c: c["CreationTime"], reverse=True
    )
    changes: list[ConfigChange] = []
    for summary in listed:
        if summary["CreationTime"] > last and summary["EndpointConfigName"] != current:
            continue  # created after the last inference: it served none of them
        if summary["EndpointConfigName"] in others:
            continue  # another endpoint's config (a config that served here earlier may be reused: rare)
        config = sm.describe_endpoint_config(EndpointConfigName=summary["EndpointConfigName"])
        capture = config.get("DataCaptureConfig") or {}
        if _destination(capture.get("DestinationS3Uri", "")) != destination:
            continue  # its captures go elsewhere: not what this report reads
        models = {v["VariantName"]: v.get("ModelName", UNKNOWN) for v in config.get("ProductionVariants", [])}
        name = config["EndpointConfigName"]
        changes.append(ConfigChange(name, config["CreationTime"], models, current=name == current))
        if config["CreationTime"] <= first:
            break  # the config already in place at the first inference: older ones served none
    changes.reverse()
    if not changes:
        return History(
            endpoint_modified=modified,
            problem=(
                f"no endpoint config capturing to {destination} was found, so which model served is unknown"
            ),
        )
    return History(changes=changes, endpoint_modified=modified)


def _configs_of_other_endpoints(sm: Any, endpoint: str) -> set[str]:
    names: set[str] = set()
    for summary in _pages(sm, "list_endpoints", "Endpoints"):
        if summary["EndpointName"] == endpoint:
            continue
        try:
            names.add(sm.describe_endpoint(EndpointName=summary["EndpointName"])["EndpointConfigName"])
        except ClientError as exc:
            if not is_not_found(exc):
                raise  # deleted between the listing and now: nothing to exclude
    return names


def served_by(times: pd.Series, variants: pd.Series, history: History) -> tuple[list[str], list[str]]:
    """For each inference, the endpoint config and model attributed to it (``unknown`` before any)."""
    import pandas as pd

    configs: list[str] = []
    models: list[str] = []
    created = [pd.Timestamp(change.created) for change in history.changes]
    for when, variant in zip(times, variants, strict=True):
        change = None
        for i, start in enumerate(created):
            if start <= when:
                change = history.changes[i]
        configs.append(change.config if change else UNKNOWN)
        models.append(change.model_of(variant) if change else UNKNOWN)
    return configs, models


def history_loader(target: Any) -> Callable[[str, str, datetime, datetime], History]:
    """A loader over the target's SageMaker client; a target without one gets a History naming that."""
    try:
        sm = target.client("sagemaker")
    except Exception as exc:
        problem = f"no SageMaker client for the target ({exc})"
        return lambda *_args: History(problem=problem)
    return lambda endpoint, destination, first, last: load_history(sm, endpoint, destination, first, last)
