"""Monitoring report: the endpoint's captured inferences as figures, plots and one HTML page.

Pipeline: :mod:`capture` streams the capture files from S3 into records,
:mod:`labels` finds true labels by matching inputs to the staged test images,
:mod:`frame` builds the DataFrame and the summary figures, :mod:`plots` draws
the PNGs and :mod:`html` lays them out. :func:`build_report` runs it end to end
against whatever target the settings name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from harness.aws_errors import is_not_found
from harness.config import Settings
from harness.files import write_atomic
from harness.names import CLASS_NAMES
from harness.report.capture import CaptureScan, endpoint_prefix, scan_captures
from harness.report.deployments import history_loader
from harness.report.frame import capture_frame, summary_figures
from harness.report.html import render_html
from harness.report.labels import load_label_index
from harness.report.plots import render_all
from harness.targets.base import Target

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import pandas as pd

HTML_NAME = "index.html"
FIGURES_NAME = "figures.json"
_WAIT_POLL_S = 1.0


class ReportError(RuntimeError):
    """The report cannot be built; the message is one line naming what is missing."""


class NoCaptureError(ReportError):
    """Nothing has been captured for the endpoint yet."""


@dataclass
class ReportResult:
    figures: dict[str, Any]
    frame: pd.DataFrame
    plots: dict[str, bytes] = field(default_factory=dict)
    html_path: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)


def class_names_of(settings: Settings) -> tuple[str, ...]:
    names = getattr(settings, "class_names", None)
    return tuple(names) if names else CLASS_NAMES


def build_report(
    settings: Settings,
    target: Target,
    out_dir: Path | None = None,
    *,
    endpoint: str | None = None,
    class_names: Sequence[str] | None = None,
    render: bool | None = None,
    wait_for: int | None = None,
    timeout_s: float = 30.0,
) -> ReportResult:
    """Read every capture of ``endpoint`` and compute the figures; with ``out_dir``, write the report.

    ``render`` defaults to "only when writing": plots cost about a second, machines asking for the
    JSON figures alone do not pay it. Raises :class:`NoCaptureError` when there is nothing to report.

    Capture reaches S3 some time after the invocation (the service batches it; the emulator every
    couple of seconds), so a caller that just made ``wait_for`` invocations can ask to wait up to
    ``timeout_s`` for that many records; after the timeout it reports whatever is there.
    """
    endpoint = endpoint or settings.endpoint_name
    names = tuple(class_names) if class_names else class_names_of(settings)
    s3 = target.client("s3")
    prefix = endpoint_prefix(settings.capture_prefix, endpoint)
    capture_uri = f"s3://{settings.bucket}/{prefix}"
    deadline = time.monotonic() + (timeout_s if wait_for else 0.0)
    # Labels first: captures whose bytes are a staged image's need no pixel decoding (harness.report.pixels).
    labels = load_label_index(s3, settings.bucket, settings.data_prefix)
    known = frozenset(labels.by_sha256)
    while True:
        try:
            scan: CaptureScan = scan_captures(
                s3, settings.bucket, settings.capture_prefix, endpoint, known=known
            )
        except ClientError as exc:
            if is_not_found(exc):
                raise NoCaptureError(
                    f"no capture yet: bucket {settings.bucket!r} does not exist on target {target.name!r}"
                ) from exc
            raise
        if not wait_for or len(scan.records) >= wait_for or time.monotonic() >= deadline:
            break
        time.sleep(_WAIT_POLL_S)
    if scan.files == 0:
        raise NoCaptureError(
            f"no capture yet for endpoint {endpoint!r}: no .jsonl or .jsonl.gz files under {capture_uri} "
            "(invoke the endpoint, e.g. run the workflow, then try again)"
        )
    if not scan.records:
        raise ReportError(
            f"{scan.files} capture file(s) under {capture_uri} but no readable record: "
            f"{scan.skipped_lines} line(s) skipped ({', '.join(sorted(scan.skipped)) or 'all empty'})"
        )
    times = [record.inference_time for record in scan.records]
    history = history_loader(target)(endpoint, settings.capture_uri, min(times), max(times))
    frame = capture_frame(scan, labels, names, settings.threshold, history)
    figures = summary_figures(
        frame,
        scan,
        labels,
        endpoint=endpoint,
        capture_uri=capture_uri,
        threshold=settings.threshold,
        class_names=names,
        history=history,
    )
    result = ReportResult(figures=figures, frame=frame)
    if render is None:
        render = out_dir is not None
    if render:
        confusion = figures["confusion_matrix"]
        result.plots = render_all(
            frame,
            threshold=settings.threshold,
            endpoint=endpoint,
            # The figures' class list: the configured names plus any extra class the model produced.
            class_names=list(figures["predicted_counts"]),
            confusion=None if confusion is None else confusion["counts"],
            figures=figures,
        )
    if out_dir is not None:
        write_report(result, Path(out_dir))
    return result


def write_report(result: ReportResult, out_dir: Path) -> None:
    """Write the PNGs, ``figures.json`` and the self-contained ``index.html`` into ``out_dir``."""
    files: dict[str, Path] = {}
    for name, png in result.plots.items():
        files[name] = out_dir / f"{name}.png"
        write_atomic(files[name], png)
    files["figures"] = out_dir / FIGURES_NAME
    write_atomic(files["figures"], (json.dumps(result.figures, indent=2) + "\n").encode())
    files["html"] = out_dir / HTML_NAME
    write_atomic(files["html"], render_html(result.figures, result.plots).encode("utf-8"))
    result.files = files
    result.html_path = files["html"]
