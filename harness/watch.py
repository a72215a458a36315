"""``harness watch``: the classification state machine's executions as they happen.

Polls ListExecutions (newest first) and describes each execution until it ends, so a photo dropped
under the incoming prefix shows up as RUNNING and then as its outcome: the photo, the label and the
confidence from the result, or the error. Rendering is separate from polling so both can be tested.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.table import Table

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
STYLES = {"RUNNING": "yellow", "SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "red", "ABORTED": "red"}


@dataclass
class Seen:
    """What the table shows about one execution."""

    name: str
    status: str
    started: datetime
    stopped: datetime | None = None
    photo: str = ""
    outcome: str = ""

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def outcome_of(desc: dict[str, Any]) -> str:
    """``bicycle 0.98`` from the result, or the error (``ThresholdConfidenceNotMet``)."""
    if desc["status"] == "SUCCEEDED":
        output = json.loads(desc.get("output") or "{}")
        result = output.get("result") or {}
        inferences = (output.get("body") or {}).get("inferences") or []
        label = result.get("label") or ""
        confidence = f" {max(inferences):.3f}" if inferences else ""
        return f"{label}{confidence}{' (duplicate)' if result.get('duplicate') else ''}".strip()
    return desc.get("error") or desc["status"]


def photo_of(desc: dict[str, Any]) -> str:
    try:
        return str(json.loads(desc.get("input") or "{}").get("s3_key", ""))
    except ValueError:
        return ""


class Watcher:
    """Keeps the latest executions of one state machine up to date, one poll at a time."""

    def __init__(self, sfn: Any, state_machine_arn: str, limit: int = 20) -> None:
        self.sfn, self.arn, self.limit = sfn, state_machine_arn, limit
        self.rows: dict[str, Seen] = {}
        self.finished = 0  # executions that ended while watching (not those already over at the start)
        self._first = True

    def poll(self) -> list[Seen]:
        """One round: list the newest executions, describe the ones not yet ended; returns the rows."""
        listed = self.sfn.list_executions(stateMachineArn=self.arn, maxResults=self.limit)["executions"]
        for item in listed:
            arn = item["executionArn"]
            row = self.rows.get(arn)
            if row is not None and row.done:
                continue
            desc = self.sfn.describe_execution(executionArn=arn)
            if row is None:
                row = self.rows[arn] = Seen(
                    item["name"], desc["status"], desc["startDate"], photo=photo_of(desc)
                )
            row.status = desc["status"]
            if row.done:
                row.stopped = desc.get("stopDate")
                row.outcome = outcome_of(desc)
                self.finished += 0 if self._first else 1
        self._first = False
        newest = sorted(self.rows.values(), key=lambda r: r.started, reverse=True)[: self.limit]
        return newest


def render(rows: list[Seen], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("started", "execution", "photo", "status", "took", "outcome"):
        table.add_column(column)
    for row in rows:
        took = f"{(row.stopped - row.started).total_seconds():.2f} s" if row.stopped else ""
        style = STYLES.get(row.status, "")
        table.add_row(
            row.started.strftime("%H:%M:%S"),
            row.name[:36],
            row.photo,
            f"[{style}]{row.status}[/]",
            took,
            row.outcome,
        )
    return table


def watch(
    watcher: Watcher,
    show: Callable[[Table], None],
    title: str,
    interval_s: float = 1.0,
    exit_after: int | None = None,
    timeout_s: float | None = None,
) -> int:
    """Poll and show until ``exit_after`` executions ended or ``timeout_s`` passed; returns how many ended."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        show(render(watcher.poll(), title))
        if exit_after is not None and watcher.finished >= exit_after:
            return watcher.finished
        if deadline is not None and time.monotonic() >= deadline:
            return watcher.finished
        time.sleep(interval_s)
