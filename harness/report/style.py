"""What every figure of the report shares: sizes in pixels, colours, axes style, legends outside the
axes, titles naming endpoint and time span, the threshold line, PNG output (Agg, no display)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the data stack loads when a report is drawn, not when the CLI starts
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


DPI = 100

PASS_COLOUR = "#2a9d8f"
FAIL_COLOUR = "#e76f51"
LINE_COLOUR = "#264653"
THRESHOLD_COLOUR = "#6c757d"
GAP_COLOUR = "#adb5bd"
CONFIG_COLOURS = ("#e9f5f2", "#fdf0e6", "#eef0fa", "#f7eef6", "#f3f6e4")


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


def figure(size: tuple[int, int]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size
    # A bare Figure on an Agg canvas: no pyplot global state, no display, safe to call from any thread.
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e9ecef", linewidth=0.8)
    ax.set_axisbelow(True)


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No bbox_inches="tight": it would change the pixel size the registry promises.
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def marker(points: int) -> tuple[float, float]:
    """Marker area and opacity: big and solid for a few points, small and translucent for thousands."""
    if points <= 500:
        return 22.0, 1.0
    return max(2.0, 22.0 * (500 / points) ** 0.5), max(0.25, (500 / points) ** 0.5)


def legend(ax: Axes) -> None:
    # Outside the axes (constrained layout makes room): a legend inside would hide points.
    from matplotlib.collections import PathCollection

    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0)
    for handle in legend.legend_handles:  # full-size, opaque keys even when thousands of points are faint
        if handle is None:
            continue
        handle.set_alpha(1.0)
        if isinstance(handle, PathCollection):
            handle.set_sizes([30.0])


def title(ax: Axes, text: str, endpoint: str, frame: pd.DataFrame) -> None:
    ax.set_title(
        f"{text}: {count(len(frame), 'inference')} on {endpoint}\n{time_span_text(frame)}",
        loc="left",
        fontsize=12,
    )


def confidence_floor(frame: pd.DataFrame, threshold: float, n_classes: int) -> float:
    """Lower y limit: below every point, the threshold and the chance level, so nothing is cut off."""
    lowest = min(float(frame["top_confidence"].min()), threshold, 1.0 / max(n_classes, 1))
    return max(0.0, lowest - 0.03)


def threshold_line(ax: Axes, threshold: float, *, vertical: bool = False) -> None:
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


def duration_text(seconds: float | None) -> str:
    """``2 h 03 min``, ``4 min 05 s``, ``12.5 s``: a span a person reads at a glance."""
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"
