"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed).

Every figure is one entry of :data:`PLOTS` (name, title, pixel size, caption, renderer): the HTML
page, the written files and the tests read that registry, so adding a plot is one entry. Every figure
has a fixed pixel size, so the page lays out predictably and tests can check what was drawn. Titles
say what is shown, for which endpoint and over which time span; the threshold is drawn wherever
confidence is on an axis, and no axis limit ever hides a low-confidence point.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


DPI = 100

PASS_COLOUR = "#2a9d8f"
FAIL_COLOUR = "#e76f51"
LINE_COLOUR = "#264653"
THRESHOLD_COLOUR = "#6c757d"


def rolling_window(records: int) -> int:
    """Inferences averaged per point: enough to smooth noise, small enough to show change."""
    return max(1, min(records, 500, max(3, records // 20)))


def time_span_text(frame: pd.DataFrame) -> str:
    """``2025-10-04 08:44:11 - 09:10:02 UTC`` (the date repeats only when it changes)."""
    first, last = frame["inference_time"].min(), frame["inference_time"].max()
    # A workflow run's burst can last under a second: then milliseconds tell the ends apart.
    fractional = bool(first.microsecond or last.microsecond)
    clock = "%H:%M:%S.%f" if fractional and (last - first).total_seconds() < 10 else "%H:%M:%S"
    trim = (lambda text: text[:-3]) if clock.endswith("%f") else (lambda text: text)
    start = trim(first.strftime(f"%Y-%m-%d {clock}"))
    end = trim(last.strftime(clock if first.date() == last.date() else f"%Y-%m-%d {clock}"))
    return f"{start} UTC" if first == last else f"{start} - {end} UTC"


def _figure(name: str) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = PLOT_BY_NAME[name].size
    # A bare Figure on an Agg canvas: no pyplot global state, no display, safe to call from any thread.
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e9ecef", linewidth=0.8)
    ax.set_axisbelow(True)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No bbox_inches="tight": it would change the pixel size the registry promises.
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _marker(points: int) -> tuple[float, float]:
    """Marker area and opacity: big and solid for a few points, small and translucent for thousands."""
    if points <= 500:
        return 22.0, 1.0
    return max(2.0, 22.0 * (500 / points) ** 0.5), max(0.25, (500 / points) ** 0.5)


def _legend(ax: Axes) -> None:
    # Outside the axes (constrained layout makes room): a legend inside would hide points.
    from matplotlib.collections import PathCollection

    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)
    for handle in legend.legend_handles:  # full-size, opaque keys even when thousands of points are faint
        if handle is None:
            continue
        handle.set_alpha(1.0)
        if isinstance(handle, PathCollection):
            handle.set_sizes([30.0])


def _title(ax: Axes, name: str, endpoint: str, frame: pd.DataFrame) -> None:
    title = PLOT_BY_NAME[name].title
    ax.set_title(
        f"{title}: {_count(len(frame), 'inference')} on {endpoint}\n{time_span_text(frame)}",
        loc="left",
        fontsize=12,
    )


def _times(frame: pd.DataFrame) -> np.ndarray:
    # Naive UTC datetimes: matplotlib's date axis then labels in UTC, as the titles say.
    return frame["inference_time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def _time_axis(ax: Axes, times: np.ndarray) -> None:
    import matplotlib.dates as mdates
    import pandas as pd

    if len(times) and times.min() == times.max():
        # One instant: without limits matplotlib spans years around it; show a minute instead.
        moment = pd.Timestamp(times.min())
        ax.set_xlim(moment - pd.Timedelta(seconds=30), moment + pd.Timedelta(seconds=30))
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("Inference time (UTC)")


def _confidence_floor(frame: pd.DataFrame, threshold: float, n_classes: int) -> float:
    """Lower y limit: below every point, the threshold and the chance level, so nothing is cut off."""
    lowest = min(float(frame["top_confidence"].min()), threshold, 1.0 / max(n_classes, 1))
    return max(0.0, lowest - 0.03)


def _threshold_line(ax: Axes, threshold: float, *, vertical: bool = False) -> None:
    style = {
        "color": THRESHOLD_COLOUR,
        "linestyle": "--",
        "linewidth": 1.5,
        "label": f"threshold {threshold:g}",
    }
    if vertical:
        ax.axvline(threshold, **style)
    else:
        ax.axhline(threshold, **style)


def confidence_histogram(frame: pd.DataFrame, threshold: float, endpoint: str, n_classes: int) -> bytes:
    import numpy as np

    fig = _figure("confidence_histogram")
    ax = fig.add_subplot()
    # Bins of 0.02 with an edge exactly at the threshold, so every bar is wholly passed or wholly failed.
    width = 0.02
    floor = _confidence_floor(frame, threshold, n_classes)
    below = int(np.ceil((threshold - floor) / width))
    above = max(1, int(np.ceil((1.0 - threshold) / width - 1e-9)))
    bins = threshold + width * np.arange(-below, above + 1)  # k = 0 is exactly the threshold
    passed = frame["passed"]
    ax.hist(
        [frame.loc[~passed, "top_confidence"], frame.loc[passed, "top_confidence"]],
        bins=bins,
        stacked=True,
        color=[FAIL_COLOUR, PASS_COLOUR],
        edgecolor="white",
        linewidth=0.6,
        label=[f"below threshold ({int((~passed).sum())})", f"passed ({int(passed.sum())})"],
    )
    _threshold_line(ax, threshold, vertical=True)
    ax.set_xlim(bins[0] - width / 2, bins[-1] + width / 2)
    ax.set_xlabel("Top confidence (probability of the predicted class)")
    ax.set_ylabel("Inferences")
    ax.yaxis.get_major_locator().set_params(integer=True)
    _style(ax)
    _legend(ax)
    _title(ax, "confidence_histogram", endpoint, frame)
    return _png(fig)


def confidence_over_time(frame: pd.DataFrame, threshold: float, endpoint: str, n_classes: int) -> bytes:
    fig = _figure("confidence_over_time")
    ax = fig.add_subplot()
    times = _times(frame)
    passed = frame["passed"].to_numpy()
    conf = frame["top_confidence"].to_numpy()
    size, alpha = _marker(len(frame))
    ax.scatter(
        times[passed],
        conf[passed],
        s=size,
        alpha=alpha,
        color=PASS_COLOUR,
        label=f"passed ({int(passed.sum())})",
    )
    ax.scatter(
        times[~passed],
        conf[~passed],
        s=size * 1.2,
        alpha=alpha,
        color=FAIL_COLOUR,
        marker="X",
        label=f"below threshold ({int((~passed).sum())})",
    )
    _threshold_line(ax, threshold)
    ax.set_ylim(_confidence_floor(frame, threshold, n_classes), 1.02)
    ax.set_ylabel("Top confidence")
    _time_axis(ax, times)
    _style(ax)
    _legend(ax)
    _title(ax, "confidence_over_time", endpoint, frame)
    return _png(fig)


def rolling_confidence(frame: pd.DataFrame, threshold: float, endpoint: str, n_classes: int) -> bytes:
    fig = _figure("rolling_confidence")
    ax = fig.add_subplot()
    window = rolling_window(len(frame))
    times = _times(frame)
    conf = frame["top_confidence"]
    rolling = conf.rolling(window, min_periods=max(1, window // 4)).mean().to_numpy()
    size, alpha = _marker(len(frame))
    ax.scatter(
        times, conf.to_numpy(), s=size / 2, color="#adb5bd", alpha=alpha * 0.6, label="single inference"
    )
    ax.plot(
        times,
        rolling,
        color=LINE_COLOUR,
        linewidth=2.2,
        label=f"mean of the last {_count(window, 'inference')}",
    )
    _threshold_line(ax, threshold)
    ax.set_ylim(_confidence_floor(frame, threshold, n_classes), 1.02)
    ax.set_ylabel("Top confidence")
    _time_axis(ax, times)
    _style(ax)
    _legend(ax)
    _title(ax, "rolling_confidence", endpoint, frame)
    return _png(fig)


def predicted_classes(frame: pd.DataFrame, endpoint: str, class_names: Sequence[str]) -> bytes:
    import numpy as np

    fig = _figure("predicted_classes")
    ax = fig.add_subplot()
    positions = np.arange(len(class_names))
    passed = np.array([int(((frame["predicted_class"] == i) & frame["passed"]).sum()) for i in positions])
    failed = np.array([int(((frame["predicted_class"] == i) & ~frame["passed"]).sum()) for i in positions])
    ax.bar(positions, passed, color=PASS_COLOUR, label="passed", width=0.6)
    ax.bar(positions, failed, bottom=passed, color=FAIL_COLOUR, label="below threshold", width=0.6)
    for x, total in zip(positions, passed + failed, strict=True):
        ax.annotate(
            str(total), (x, total), ha="center", va="bottom", xytext=(0, 3), textcoords="offset points"
        )
    ax.set_xticks(positions, list(class_names))
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("Inferences")
    ax.set_ylim(0, max(1, int((passed + failed).max())) * 1.12)
    ax.yaxis.get_major_locator().set_params(integer=True)
    _style(ax)
    ax.grid(False, axis="x")
    _legend(ax)
    _title(ax, "predicted_classes", endpoint, frame)
    return _png(fig)


def confusion_matrix(
    counts: Sequence[Sequence[int]], class_names: Sequence[str], frame: pd.DataFrame, endpoint: str
) -> bytes:
    import numpy as np

    fig = _figure("confusion_matrix")
    ax = fig.add_subplot()
    matrix = np.asarray(counts, dtype=int)
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else 0.0
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1, int(matrix.max())))
    for (row, col), value in np.ndenumerate(matrix):
        dark = value > matrix.max() * 0.6
        share = f"\n{value / total:.1%}" if total else ""
        ax.text(
            col,
            row,
            f"{value}{share}",
            ha="center",
            va="center",
            fontsize=13,
            color="white" if dark else "#212529",
        )
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, list(class_names))
    ax.set_yticks(ticks, list(class_names))
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    fig.colorbar(image, ax=ax, label="Inferences", shrink=0.8)
    known = frame[frame["true_class"].notna()]
    ax.set_title(
        f"Confusion matrix: {_count(total, 'labelled inference')} on {endpoint}, accuracy {accuracy:.1%}\n"
        f"{time_span_text(known if len(known) else frame)}",
        loc="left",
        fontsize=12,
    )
    return _png(fig)


@dataclass(frozen=True)
class PlotInput:
    """What every renderer may draw from."""

    frame: pd.DataFrame
    threshold: float
    endpoint: str
    class_names: Sequence[str]
    confusion: Sequence[Sequence[int]] | None  # None when no captured input has a known label


@dataclass(frozen=True)
class Plot:
    """One figure of the report: how it is named, titled, sized, captioned and drawn."""

    name: str
    title: str
    size: tuple[int, int]  # (width, height) in pixels
    caption: str
    render: Callable[[PlotInput], bytes]
    applies: Callable[[PlotInput], bool] = lambda _data: True


# The report's figures, in reading order.
PLOTS: tuple[Plot, ...] = (
    Plot(
        "confidence_histogram",
        "Distribution of top confidence",
        (1000, 500),
        "How sure the model was. Bars right of the dashed line passed the workflow's confidence filter; "
        "bars left of it were rejected (ThresholdConfidenceNotMet).",
        lambda d: confidence_histogram(d.frame, d.threshold, d.endpoint, len(d.class_names)),
    ),
    Plot(
        "confidence_over_time",
        "Top confidence of each inference over time",
        (1000, 500),
        "Every inference at the time it was made; crosses fell below the threshold.",
        lambda d: confidence_over_time(d.frame, d.threshold, d.endpoint, len(d.class_names)),
    ),
    Plot(
        "rolling_confidence",
        "Rolling mean of top confidence",
        (1000, 500),
        "Moving average of the top confidence: a downward drift is the first sign that incoming images "
        "differ from the training data.",
        lambda d: rolling_confidence(d.frame, d.threshold, d.endpoint, len(d.class_names)),
    ),
    Plot(
        "predicted_classes",
        "Predicted classes",
        (800, 500),
        "How many inferences predicted each class, split by whether they passed.",
        lambda d: predicted_classes(d.frame, d.endpoint, d.class_names),
    ),
    Plot(
        "confusion_matrix",
        "Confusion matrix (images with a known label)",
        (700, 600),
        "Captured inputs that are staged test images, by true class (rows) and predicted class (columns).",
        lambda d: confusion_matrix(d.confusion or [], d.class_names, d.frame, d.endpoint),
        applies=lambda d: d.confusion is not None,
    ),
)
PLOT_BY_NAME: dict[str, Plot] = {plot.name: plot for plot in PLOTS}


def render_all(
    frame: pd.DataFrame,
    *,
    threshold: float,
    endpoint: str,
    class_names: Sequence[str],
    confusion: Sequence[Sequence[int]] | None,
) -> dict[str, bytes]:
    """Every figure that applies, in reading order; the confusion matrix only when labels are known."""
    data = PlotInput(frame, threshold, endpoint, class_names, confusion)
    return {plot.name: plot.render(data) for plot in PLOTS if plot.applies(data)}
