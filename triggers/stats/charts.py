"""The stats page's charts: server-side SVG, so they need no network and no script.

Drawn from `stats.series` (the same service as the page's numbers). Colours read
in the admin's light and dark themes alike; text and axes take the page's own
colour (`currentColor`).
"""

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from triggers.stats.figures import Series

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 180, 36, 22, 8

# Outcome -> colour, in stacking order (bottom first).
OUTCOME_COLOURS = {
    "completed": "#2e9e5b",
    "failed": "#d9534f",
    "failed_retryable": "#f0ad4e",
    "duplicates": "#7a8fa6",
}
SENDS_COLOUR = "#3b82c4"
WATERMARK_COLOUR = "#e0a800"
_AXIS_TEXT = 'text-anchor="end" font-size="10" fill="currentColor"'


@dataclass(frozen=True)
class Chart:
    """One chart for the template: its title, SVG and legend."""

    title: str
    svg: SafeString
    legend: list[tuple[str, str]]


def _bars(series: Series, keys: list[str], colours: dict[str, str], line: int | None = None) -> SafeString:
    buckets = series.buckets
    top = max([sum(bucket[key] for key in keys) for bucket in buckets] + [line or 0, 1])
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(buckets), 1)
    parts = [
        f'<svg class="stats-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" style="width:100%;max-width:{WIDTH}px;color:inherit">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}" stroke="currentColor" '
        'stroke-opacity="0.4"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" {_AXIS_TEXT}>{top}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" {_AXIS_TEXT}>0</text>',
    ]
    for index, bucket in enumerate(buckets):
        x, y = LEFT + index * step, TOP + plot_h
        for key in keys:
            height = bucket[key] / top * plot_h
            if height:
                y -= height
                tooltip = f"{escape(bucket['label'])}: {bucket[key]} {key}"
                parts.append(
                    f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{height:.1f}" '
                    f'fill="{colours[key]}"><title>{tooltip}</title></rect>'
                )
        if index % max(len(buckets) // 6, 1) == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="10" '
                f'fill="currentColor">{escape(bucket["label"])}</text>'
            )
    if line:
        y = TOP + plot_h - line / top * plot_h
        parts.append(
            f'<line class="watermark-line" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" '
            f'stroke="{WATERMARK_COLOUR}" stroke-width="2" stroke-dasharray="6 4"/>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (numbers and escaped labels only)


def charts(hourly: Series, daily: Series, watermark: int) -> list[Chart]:
    """Return the stats page's charts: executions per hour (24 h) and per day (30 days), and sends."""
    outcomes = list(OUTCOME_COLOURS)
    labels = {"completed": "Completed", "failed": "Failed", "failed_retryable": "Failed (retryable)"}
    legend = [(OUTCOME_COLOURS[key], label) for key, label in labels.items()]
    legend.append((OUTCOME_COLOURS["duplicates"], "Duplicates absorbed"))
    sends = {"sends": SENDS_COLOUR}
    return [
        Chart("Executions per hour, last 24 hours", _bars(hourly, outcomes, OUTCOME_COLOURS), legend),
        Chart("Executions per day, last 30 days", _bars(daily, outcomes, OUTCOME_COLOURS), legend),
        Chart(
            "WhatsApp sends per day, last 30 days, and the watermark",
            _bars(daily, ["sends"], sends, line=watermark),
            [(SENDS_COLOUR, "WhatsApp sends"), (WATERMARK_COLOUR, f"Watermark ({watermark} in 24 h)")],
        ),
    ]
