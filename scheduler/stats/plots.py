"""The report's charts (matplotlib, Agg backend: no display needed), as PNG bytes:
the waiting-time distribution, the hourly load by weekday (heat map) and the service
level by day. Labels come in the report's language (`labels`)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

DPI = 100


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def wait_histogram(
    waits_min: Sequence[float], labels: Mapping[str, str], *, bin_min: int = 5
) -> bytes:
    """Customers by waiting time, in `bin_min`-minute bins."""
    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot()
    top = max(waits_min, default=0.0)
    n_bins = max(1, math.ceil((top + 1e-9) / bin_min))
    edges = [i * bin_min for i in range(n_bins + 1)]
    ax.hist(list(waits_min), bins=edges, color="#1f5fa8", edgecolor="white")
    ax.set_xlabel(labels["wait_x"])
    ax.set_ylabel(labels["wait_y"])
    ax.set_title(labels["wait_title"])
    ax.set_xticks(edges if len(edges) <= 16 else edges[:: math.ceil(len(edges) / 16)])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def load_heatmap(
    profile: Mapping[tuple[int, int], float],
    weekdays: Sequence[str],
    labels: Mapping[str, str],
    *,
    hours: range | None = None,
) -> bytes:
    """Mean arrivals per weekday (rows, ISO 1-7) x local hour (columns)."""
    if hours is None:
        used = [h for _, h in profile] or [8, 15]
        hours = range(min(min(used), 8), max(max(used), 15) + 1)
    grid = [[profile.get((wd, h), 0.0) for h in hours] for wd in range(1, 8)]
    fig = Figure(figsize=(7.2, 3.4))
    ax = fig.add_subplot()
    im = ax.imshow(grid, aspect="auto", cmap="YlOrRd", vmin=0)
    ax.set_xticks(range(len(hours)), [str(h) for h in hours])
    ax.set_yticks(range(7), list(weekdays))
    ax.set_xlabel(labels["heat_x"])
    ax.set_title(labels["heat_title"])
    peak = max((v for row in grid for v in row), default=0.0)
    for y, row in enumerate(grid):
        for x, v in enumerate(row):
            if v:
                txt = f"{v:.1f}" if v < 10 else f"{v:.0f}"
                colour = "white" if v > peak * 0.6 else "black"
                ax.text(x, y, txt, ha="center", va="center", fontsize=7, color=colour)
    fig.colorbar(im, ax=ax, label=labels["heat_bar"])
    return _png(fig)


def service_level_by_day(
    days: Sequence[tuple[str, float | None]], labels: Mapping[str, str]
) -> bytes:
    """The share of customers called within the target, per day (0-100 %)."""
    fig = Figure(figsize=(7.2, 3.0))
    ax = fig.add_subplot()
    xs = [d[5:] for d, _ in days]  # MM-DD
    ys = [100 * v if v is not None else 0.0 for _, v in days]
    ax.bar(range(len(xs)), ys, color="#1d6b3a")
    ax.set_xticks(range(len(xs)), xs, rotation=60 if len(xs) > 10 else 0, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel(labels["sl_y"])
    ax.set_title(labels["sl_title"])
    for x, (_, v) in enumerate(days):
        if v is not None and len(days) <= 12:
            ax.text(x, 100 * v + 1.5, f"{100 * v:.0f} %", ha="center", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
