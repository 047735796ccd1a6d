"""Small SVG charts drawn on the server (the page loads nothing from elsewhere)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 200, 48, 24, 12


def _frame(title: str, top: float, body: list[str]) -> Markup:
    plot_height = HEIGHT - BOTTOM - TOP
    axis = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#8c959f"/>',
            f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" stroke="#8c959f"/>',
            f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" font-size="10">{top:,.0f}</text>',
            f'<text x="{LEFT - 4}" y="{TOP + plot_height}" text-anchor="end" font-size="10">0</text>']
    return Markup(f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
                  f'height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
                  + "".join(axis + body) + "</svg>")


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - BOTTOM - TOP) * (1 - value / top)


def calls_against_budget(title: str, hours: list[datetime], calls: list[int], budget: int | None) -> Markup:
    """A bar per hour of API calls, scaled to the calls (normal traffic stays visible); the vendor's hourly
    budget as a red line when it has one, pinned to the top edge and labelled when it is far above them."""
    top = max([*calls, 1]) * 1.25
    step = (WIDTH - LEFT) / max(len(hours), 1)
    body = []
    for index, (hour, count) in enumerate(zip(hours, calls, strict=True)):
        x = LEFT + index * step
        body.append(f'<rect x="{x + 1:.1f}" y="{_y(count, top):.1f}" width="{step - 2:.1f}" '
                    f'height="{_y(0, top) - _y(count, top):.1f}" fill="#218bff"><title>{hour:%H:00} UTC: '
                    f'{count:,} calls</title></rect>')
        if index % 4 == 0:
            body.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" font-size="10">{hour:%H:00}</text>')
    if budget:
        above = budget > top
        y = _y(min(budget, top), top)
        body.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="#cf222e" stroke-dasharray="6 3"/>'
                    f'<text x="{WIDTH - 4}" y="{y + 12 if above else y - 4:.1f}" text-anchor="end" font-size="10" '
                    f'fill="#cf222e">budget {budget:,}/hour{" (above this scale)" if above else ""}</text>')
    return _frame(title, top, body)


def count_over_time(title: str, points: list[tuple[datetime, int]], colour: str = "#cf222e") -> Markup:
    """A line through (time, count) points, oldest left."""
    top = max([count for _, count in points] + [1]) * 1.1
    if len(points) < 2:
        text = "No refresh has been tallied yet." if not points else f"{points[0][1]:,} now"
        return _frame(title, top, [f'<text x="{LEFT + 8}" y="{HEIGHT / 2}" font-size="12">{text}</text>'])
    start, span = points[0][0], max((points[-1][0] - points[0][0]).total_seconds(), 1)
    xy = [(LEFT + (WIDTH - LEFT) * (at - start).total_seconds() / span, _y(count, top)) for at, count in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    labels = [f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="10">{points[0][0]:%m-%d %H:%M}</text>',
              f'<text x="{WIDTH}" y="{HEIGHT - 8}" text-anchor="end" font-size="10">{points[-1][0]:%m-%d %H:%M}</text>']
    dots = [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>{at:%Y-%m-%d %H:%M} UTC: {count:,}'
            f'</title></circle>' for (x, y), (at, count) in zip(xy, points, strict=True)]
    return _frame(title, top, [f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>',
                               *dots, *labels])
