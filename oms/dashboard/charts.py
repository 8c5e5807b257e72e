"""Server-rendered charts as inline SVG: no JavaScript, nothing fetched, prints as it shows.

Two shapes cover the dashboard: a column chart over days (stacked series, e.g. renewals by
outcome) and a horizontal bar chart over named rows (e.g. MRR by plan, stock against its
reorder point). Every label is escaped; every bar carries a ``<title>`` so hovering shows the
exact figure, and the chart as a whole has an ``aria-label``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = int | Decimal

PALETTE = ("#2f5bea", "#17a673", "#f0a500", "#d64545", "#7a5af8", "#0ea5b7")
GRID = "#e2e6ee"
INK = "#1d2433"
MUTED = "#5d6778"


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number]
    color: str = ""


@dataclass(frozen=True)
class BarRow:
    label: str
    value: Number
    marker: Number | None = None  # a reference line on the bar, e.g. a reorder point
    note: str = ""
    display: str = ""  # the figure as printed (e.g. money in its currency); default: value


def nice_ceiling(value: Number) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10^n that is ≥ value (at least 1): a round axis top."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(float(value)))
    base = 10**exponent
    for step in (1, 2, 2.5, 5, 10):
        top = step * base
        if top >= value:
            return max(1, math.ceil(top))
    return max(1, math.ceil(10 * base))  # pragma: no cover - the loop always returns


def grid_steps(y_max: int) -> int:
    """How many equal steps divide the axis into whole numbers (at most 5): a chart of
    counts never shows a 0.25 order."""
    return next(n for n in (4, 5, 3, 2, 1) if y_max % n == 0)


def _fmt(value: Number) -> str:
    return f"{value:,}"


def _svg(width: int, height: int, label: str, body: list[str]) -> SafeString:
    return mark_safe(  # noqa: S308 - every interpolated text below is escaped
        f'<svg class="oms-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="12">'
        + "".join(body)
        + "</svg>"
    )


def column_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: int = 480,
    height: int = 220,
    value_format: Callable[[Number], str] = _fmt,
) -> SafeString:
    """Stacked columns, one per label (e.g. per day). The y axis starts at zero and ends at
    a round number above the tallest stack."""
    left, right, top = 52, 8, 10
    # Legend entries flow left to right and wrap; each row takes 16 px under the x labels.
    legend: list[tuple[int, int, str, str]] = []
    lx, row = left, 0
    for j, s in enumerate(series):
        needed = 26 + 7 * len(s.name)
        if lx + needed > width and lx > left:
            lx, row = left, row + 1
        legend.append((lx, row, s.color or PALETTE[j % len(PALETTE)], s.name))
        lx += needed
    rows = row + 1 if series else 0
    bottom = 24 + 16 * rows
    height += 16 * max(rows - 1, 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    count = len(labels)
    totals = [sum((s.values[i] for s in series), start=0) for i in range(count)]
    y_max = nice_ceiling(max(totals, default=0))
    steps = grid_steps(y_max)
    body: list[str] = []
    for k in range(steps + 1):  # grid lines and y labels on whole numbers: 0, y_max/steps, ...
        tick = y_max * k // steps
        y = top + plot_h - plot_h * k / steps
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
            f"{escape(value_format(tick))}</text>"
        )
    slot = plot_w / max(count, 1)
    bar_w = max(1.0, slot * 0.7)
    label_every = max(1, math.ceil(count / 7))
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar_w) / 2
        base: float = top + plot_h
        for j, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * float(value) / y_max
            base -= h
            color = s.color or PALETTE[j % len(PALETTE)]
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{color}" data-value="{value}">'
                f"<title>{escape(label)} · {escape(s.name)}: {escape(value_format(value))}</title>"
                "</rect>"
            )
        if i % label_every == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'fill="{MUTED}">{escape(label)}</text>'
            )
    for lx, row, color, name in legend:
        y = height - 16 * (rows - row)
        body.append(
            f'<rect x="{lx}" y="{y + 2}" width="10" height="10" rx="2" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{y + 11}" fill="{INK}">{escape(name)}</text>'
        )
    return _svg(width, height, title, body)


def bar_chart(
    *,
    title: str,
    rows: Sequence[BarRow],
    width: int = 480,
    row_height: int = 26,
    label_width: int = 150,
    color: str = PALETTE[0],
    marker_name: str = "",
    value_format: Callable[[Number], str] = _fmt,
) -> SafeString:
    """Horizontal bars, one per row, with the figure printed after each bar and an optional
    marker line per row (drawn in red, named ``marker_name`` in the bar's title)."""
    right = 90
    plot_w = width - label_width - right
    height = max(row_height * len(rows) + 8, 30)
    peak = max([r.value for r in rows] + [r.marker or 0 for r in rows] + [0])
    x_max = nice_ceiling(peak)
    body: list[str] = []
    if not rows:
        body.append(f'<text x="8" y="20" fill="{MUTED}">Nothing to show.</text>')
    for i, row in enumerate(rows):
        y = 4 + i * row_height
        w = plot_w * max(float(row.value), 0.0) / x_max
        shown = row.display or value_format(row.value)
        tip = f"{row.label}: {shown}"
        if row.marker is not None:
            tip += f" ({marker_name or 'marker'} {value_format(row.marker)})"
        if row.note:
            tip += f" · {row.note}"
        body.append(
            f'<text x="{label_width - 8}" y="{y + row_height / 2 + 4:.1f}" text-anchor="end" '
            f'fill="{INK}">{escape(row.label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{plot_w}" height="{row_height - 8}" '
            f'fill="#f3f5f9" rx="3"/>'
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{w:.1f}" '
            f'height="{row_height - 8}" fill="{color}" rx="3" data-value="{row.value}">'
            f"<title>{escape(tip)}</title></rect>"
            f'<text x="{label_width + plot_w + 6}" y="{y + row_height / 2 + 4:.1f}" '
            f'fill="{INK}">{escape(shown)}</text>'
        )
        if row.marker is not None:
            mx = label_width + plot_w * float(row.marker) / x_max
            body.append(
                f'<line class="marker" x1="{mx:.1f}" x2="{mx:.1f}" y1="{y + 1}" '
                f'y2="{y + row_height - 3}" stroke="#d64545" stroke-width="2"/>'
            )
    return _svg(width, height, title, body)
