"""Server-side geometry of the dashboard's stacked bar charts (drawn as inline SVG, no scripts)."""

from __future__ import annotations

from dataclasses import dataclass

from logs.selectors import DailyCount

WIDTH = 720
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 40
# Bottom to top; the CSS class colours the segment.
SEGMENTS = (("success", "bar-success"), ("failed", "bar-failed"), ("skipped", "bar-skipped"))


@dataclass(frozen=True)
class Segment:
    status: str
    css_class: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Bar:
    day: DailyCount
    segments: list[Segment]
    label: str  # empty when this day's label is skipped to keep the axis readable
    label_x: float


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: int
    label_y: int
    bars: list[Bar]
    ticks: list[Tick]


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at or above ``value`` (axis maximum)."""
    if value <= 1:
        return 1
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= value:
                return step * magnitude
        magnitude *= 10


def stacked_bar_chart(*, series: list[DailyCount]) -> BarChart:
    """Bars for each day (oldest left), stacked success / failed / skipped, with a y axis."""
    plot_width = WIDTH - _LEFT - _RIGHT
    plot_height = HEIGHT - _TOP - _BOTTOM
    plot_bottom = HEIGHT - _BOTTOM
    top_value = _nice_ceiling(max((day.total for day in series), default=0))
    scale = plot_height / top_value
    band = plot_width / max(len(series), 1)
    bar_width = band * 0.7
    # Every day labelled for a week; about every fifth day for a month.
    label_every = 1 if len(series) <= 10 else 5
    bars = []
    for index, day in enumerate(series):
        x = _LEFT + index * band + (band - bar_width) / 2
        y = float(plot_bottom)
        segments = []
        for status, css_class in SEGMENTS:
            value = getattr(day, status)
            if value:
                height = value * scale
                y -= height
                segments.append(
                    Segment(
                        status,
                        css_class,
                        value,
                        round(x, 1),
                        round(y, 1),
                        round(bar_width, 1),
                        round(height, 1),
                    )
                )
        last = index == len(series) - 1
        label = f"{day.day:%m/%d}" if index % label_every == 0 or last else ""
        bars.append(Bar(day, segments, label, round(x + bar_width / 2, 1)))
    divisions = next(d for d in (5, 4, 2, 1) if top_value % d == 0)
    ticks = [
        Tick(
            value=top_value // divisions * step,
            y=round(plot_bottom - top_value // divisions * step * scale, 1),
        )
        for step in range(divisions + 1)
    ]
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=_LEFT,
        plot_right=WIDTH - _RIGHT,
        plot_bottom=plot_bottom,
        label_y=plot_bottom + 18,
        bars=bars,
        ticks=ticks,
    )
