import re
from decimal import Decimal

import pytest

from oms.dashboard.charts import (
    BarRow,
    Series,
    bar_chart,
    column_chart,
    grid_steps,
    nice_ceiling,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (-3, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (23, 25), (180, 200),
     (1234, 2000), (Decimal("0.4"), 1), (Decimal("12.5"), 20)],
)  # fmt: skip
def test_nice_ceiling_is_a_round_number_not_below_the_value(value, expected):
    assert nice_ceiling(value) == expected


def _bars(svg: str) -> list[dict[str, str]]:
    return [
        dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag))
        for tag in re.findall(r'<rect class="bar"([^>]*)>', svg)
    ]


def test_column_chart_stacks_series_and_scales_to_the_axis():
    svg = str(
        column_chart(
            title="Renewals",
            labels=["Mon", "Tue", "Wed"],
            series=[Series("renewed", [10, 0, 4]), Series("failed", [5, 0, 1])],
            height=240,
        )
    )
    bars = _bars(svg)
    # Zero values draw nothing: 2 + 0 + 2 bars.
    assert [b["data-value"] for b in bars] == ["10", "5", "4", "1"]
    # The tallest stack (15) sits under an axis topped at 20; plot height is 240-10-40 = 190.
    heights = [float(b["height"]) for b in bars]
    assert heights == pytest.approx([95.0, 47.5, 38.0, 9.5], abs=0.05)
    # The second series stacks on top of the first in the same column.
    assert float(bars[1]["y"]) + heights[1] == pytest.approx(float(bars[0]["y"]), abs=0.05)
    assert ">20</text>" in svg  # the axis top label
    assert "<title>Mon · failed: 5</title>" in svg
    assert 'aria-label="Renewals"' in svg


def test_bar_chart_draws_markers_and_printed_values():
    svg = str(
        bar_chart(
            title="Stock",
            rows=[BarRow("A @ W1", 3, marker=10), BarRow("B @ W2", 0, marker=4, display="none")],
            width=500,
            label_width=100,
            marker_name="reorder point",
        )
    )
    bars = _bars(svg)
    plot_w = 500 - 100 - 90
    assert float(bars[0]["width"]) == pytest.approx(plot_w * 3 / 10, abs=0.05)
    assert float(bars[1]["width"]) == 0
    markers = re.findall(r'<line class="marker" x1="([\d.]+)"', svg)
    assert [float(x) for x in markers] == pytest.approx(
        [100 + plot_w, 100 + plot_w * 0.4], abs=0.05
    )
    assert "A @ W1: 3 (reorder point 10)" in svg
    assert ">none</text>" in svg


@pytest.mark.parametrize(
    ("y_max", "steps"), [(1, 1), (2, 2), (3, 3), (5, 5), (10, 5), (20, 4), (25, 5), (200, 4)]
)
def test_grid_steps_keep_ticks_whole(y_max, steps):
    assert grid_steps(y_max) == steps
    assert y_max % steps == 0


def test_count_axis_has_whole_ticks():
    svg = str(column_chart(title="x", labels=["a"], series=[Series("n", [1])]))
    ticks = re.findall(r'text-anchor="end" fill="#5d6778">([^<]*)</text>', svg)
    assert ticks == ["0", "1"]


def test_labels_are_escaped():
    svg = str(bar_chart(title="<t>", rows=[BarRow("<script>x</script>", 1)]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_empty_charts_render():
    assert "Nothing to show" in str(bar_chart(title="x", rows=[]))
    assert "<svg" in str(column_chart(title="x", labels=[], series=[]))
