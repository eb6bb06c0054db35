"""Chart geometry for inline SVG: numbers and labels only, drawn by the (autoescaped) template.

No chart library and no script: a report must open offline, and a label is data that the
template escapes like any other text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LABEL_WIDTH = 230
BAR_WIDTH = 300
ROW_HEIGHT = 22
MAX_LABEL_CHARS = LABEL_WIDTH // 7  # 12px labels: about 7px a character


@dataclass(frozen=True)
class BarItem:
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    note: str = ""
    """Shown after the bar (e.g. "12/40"), and in the tooltip."""


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    label: str
    short_label: str
    value_text: str
    tooltip: str
    err_x1: float | None = None
    err_x2: float | None = None


@dataclass
class BarChart:
    title: str
    bars: list[Bar] = field(default_factory=list)
    percent: bool = True
    axis_max: float = 1.0
    step: float = 0.25
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH
    row_height: int = ROW_HEIGHT

    @property
    def width(self) -> int:
        return self.label_width + self.bar_width + 100

    @property
    def height(self) -> int:
        return self.row_height * len(self.bars) + 30

    @property
    def ticks(self) -> list[tuple[float, str]]:
        """Gridlines at round values: quarters of 100%, or `step` (1, 2 or 5 x 10^k)."""
        count = round(self.axis_max / self.step)
        return [
            (self.label_width + self.bar_width * i / count, _fmt(self.step * i, self.percent))
            for i in range(count + 1)
        ]


def _nice_step(top: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that splits `top` into at most 5 steps."""
    magnitude = 10 ** math.floor(math.log10(max(top, 1.0) / 5))
    for factor in (1, 2, 5, 10):
        if top / (factor * magnitude) <= 5:
            return float(factor * magnitude)
    return float(10 * magnitude)


def shorten(text: str, limit: int = MAX_LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{100 * value:.0f}%"
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"


def bar_chart(title: str, items: Sequence[BarItem], *, percent: bool = True) -> BarChart:
    """Horizontal bars; with `percent` the axis is 0-100% and intervals become whiskers."""
    top, step = 1.0, 0.25
    if not percent:
        top = max((i.value for i in items), default=1.0) or 1.0
        step = _nice_step(top)
        if all(float(i.value).is_integer() for i in items):
            step = max(1.0, step)  # counts: whole-number gridlines
        top = step * math.ceil(top / step)
    chart = BarChart(title=title, percent=percent, axis_max=top, step=step)
    scale = chart.bar_width / top
    for row, item in enumerate(items):
        value_text = _fmt(item.value, percent)
        tooltip = f"{item.label}: {value_text}"
        err_x1 = err_x2 = None
        if item.low is not None and item.high is not None:
            err_x1 = chart.label_width + item.low * scale
            err_x2 = chart.label_width + item.high * scale
            tooltip += f" (95% CI {_fmt(item.low, True)}-{_fmt(item.high, True)})"
        if item.note:
            tooltip += f", {item.note}"
            value_text += f"  {item.note}"
        chart.bars.append(
            Bar(
                y=20 + row * chart.row_height,
                width=max(0.0, item.value * scale),
                label=item.label,
                short_label=shorten(item.label),
                value_text=value_text,
                tooltip=tooltip,
                err_x1=err_x1,
                err_x2=err_x2,
            )
        )
    return chart


@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    fill: str
    text: str
    text_fill: str
    tooltip: str


@dataclass
class Heatmap:
    title: str
    rows: list[str]
    cols: list[str]
    cells: list[Cell]
    cell_w: int = 64
    cell_h: int = 24
    label_width: int = LABEL_WIDTH
    header_height: int = 110

    @property
    def width(self) -> int:
        return self.label_width + self.cell_w * len(self.cols) + 10

    @property
    def height(self) -> int:
        return self.header_height + self.cell_h * len(self.rows) + 10

    @property
    def row_labels(self) -> list[tuple[float, str, str]]:
        return [
            (self.header_height + i * self.cell_h + self.cell_h * 0.68, shorten(r), r)
            for i, r in enumerate(self.rows)
        ]

    @property
    def col_labels(self) -> list[tuple[float, str, str]]:
        return [
            (self.label_width + i * self.cell_w + self.cell_w / 2, shorten(c, 18), c)
            for i, c in enumerate(self.cols)
        ]


def heat_colour(value: float) -> str:
    """0 -> pale, 1 -> deep red (sequential, readable in grey)."""
    v = min(1.0, max(0.0, value))
    lo, hi = (255, 245, 240), (165, 15, 21)
    r, g, b = (round(a + (b - a) * v) for a, b in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: dict[tuple[str, str], tuple[float | None, str]],
) -> Heatmap:
    """`values[(row, col)]` is (rate or None, tooltip detail); missing cells are blank."""
    longest = max((len(shorten(c, 18)) for c in cols), default=4)
    header = int(24 + 6.5 * longest * 0.65)  # rotated column labels need this much room
    chart = Heatmap(title=title, rows=list(rows), cols=list(cols), cells=[], header_height=header)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            value, detail = values.get((row, col), (None, "no judged answers"))
            x = chart.label_width + j * chart.cell_w
            y = chart.header_height + i * chart.cell_h
            if value is None:
                fill, text, ink = "#eeeeee", "-", "#777777"
            else:
                fill, text = heat_colour(value), f"{100 * value:.0f}%"
                ink = "#ffffff" if value > 0.55 else "#222222"
            chart.cells.append(Cell(x, y, fill, text, ink, f"{row} x {col}: {text} ({detail})"))
    return chart


PLOT_WIDTH = 520
PLOT_HEIGHT = 220
MAX_POINTS = 2000
MAX_MARKERS = 120


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    tooltip: str
    low_y: float | None = None
    """A vertical whisker from low_y to high_y (chart coordinates), when the point has one."""
    high_y: float | None = None


@dataclass
class LineChart:
    """One series over a numeric x axis: a polyline, its axes, and hover markers when few."""

    title: str
    x_label: str
    y_label: str
    points: str
    """SVG `points`: "x,y x,y ..." in chart coordinates, numbers only."""
    count: int
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    markers: list[Marker] = field(default_factory=list)
    left: int = 64
    top: int = 12
    plot_width: int = PLOT_WIDTH
    plot_height: int = PLOT_HEIGHT

    @property
    def width(self) -> int:
        return self.left + self.plot_width + 24

    @property
    def height(self) -> int:
        return self.top + self.plot_height + 44

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height


def _axis(lo: float, hi: float, most: int = 6) -> tuple[float, float, float]:
    """Round bounds and the smallest 1, 2 or 5 x 10^k step covering [lo, hi] in `most` steps."""
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    magnitude = 10 ** math.floor(math.log10((hi - lo) / most))
    for factor in (1, 2, 5, 10, 20):
        step = factor * magnitude
        low = math.floor(lo / step + 1e-9) * step
        high = math.ceil(hi / step - 1e-9) * step
        if (high - low) / step <= most + 1e-9:
            break
    return low, high, step


def _tick_text(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}"


def _thin(points: Sequence[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most `limit` points, evenly spread, first and last kept: a long run stays readable."""
    if len(points) <= limit:
        return list(points)
    n = len(points)
    return [points[round(i * (n - 1) / (limit - 1))] for i in range(limit)]


def line_chart(
    title: str,
    points: Sequence[tuple[float, float]],
    *,
    x_label: str = "step",
    y_label: str = "loss",
    integer_x: bool = True,
    intervals: Sequence[tuple[float, float] | None] | None = None,
) -> LineChart:
    """(x, y) points, sorted by x and finite, as a polyline on round axes; `intervals` (one
    per point, None for none) become whiskers, and the y axis covers them."""
    whiskers = list(intervals) if intervals is not None and len(intervals) == len(points) else []
    shown_points = _thin(points, MAX_POINTS) if not whiskers else list(points)
    xs = [x for x, _ in shown_points] or [0.0]
    ys = [y for _, y in shown_points] or [0.0]
    ys += [bound for w in whiskers if w is not None for bound in w]
    x_lo, x_hi, x_step = _axis(min(xs), max(xs))
    if integer_x:
        x_step = max(1.0, x_step)
        x_lo, x_hi = math.floor(x_lo / x_step) * x_step, math.ceil(x_hi / x_step) * x_step
        if x_hi <= x_lo:
            x_hi = x_lo + x_step
    y_lo, y_hi, y_step = _axis(min(ys), max(ys))
    chart = LineChart(
        title=title, x_label=x_label, y_label=y_label, points="", count=0, x_ticks=[], y_ticks=[]
    )

    def sx(x: float) -> float:
        return chart.left + (x - x_lo) / (x_hi - x_lo) * chart.plot_width

    def sy(y: float) -> float:
        return chart.bottom - (y - y_lo) / (y_hi - y_lo) * chart.plot_height

    chart.x_ticks = [
        (sx(x_lo + i * x_step), _tick_text(x_lo + i * x_step, x_step))
        for i in range(round((x_hi - x_lo) / x_step) + 1)
    ]
    chart.y_ticks = [
        (sy(y_lo + i * y_step), _tick_text(y_lo + i * y_step, y_step))
        for i in range(round((y_hi - y_lo) / y_step) + 1)
    ]
    chart.points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in shown_points)
    chart.count = len(shown_points)
    if whiskers:
        chart.markers = [
            Marker(
                sx(x),
                sy(y),
                f"{x_label} {x:g}: {y_label} {y:.4g}"
                + (f" (95% CI {w[0]:.4g}-{w[1]:.4g})" if w else ""),
                sy(w[0]) if w else None,
                sy(w[1]) if w else None,
            )
            for (x, y), w in zip(shown_points, whiskers, strict=True)
        ]
    elif len(shown_points) <= MAX_MARKERS:
        chart.markers = [
            Marker(sx(x), sy(y), f"{x_label} {x:g}: {y_label} {y:.4f}") for x, y in shown_points
        ]
    return chart
