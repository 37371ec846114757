"""Charts as inline SVG text: lines, shaded bands and error bars on linear axes. Pure Python, no plotting library.

The live page (kabucast.evaluation.live_page) draws with these, so the daily Lambda renders it without matplotlib
and the page needs no script and makes no request. A chart is a list of layers drawn in order on one pair of axes;
NaN values break a line or a band (nothing is drawn across them). Every drawn element carries the CSS class its
layer names, so the page's style sheet colours it and a browser test can find it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Number = float | int


@dataclass(frozen=True)
class Line:
    """A polyline through (xs, ys); ``label`` is its title in the chart's legend ('' for none)."""

    xs: Sequence[Number]
    ys: Sequence[Number]
    css: str
    label: str = ""


@dataclass(frozen=True)
class Band:
    """The area between ``lows`` and ``highs`` at ``xs`` (a fan chart's interval)."""

    xs: Sequence[Number]
    lows: Sequence[Number]
    highs: Sequence[Number]
    css: str
    label: str = ""


@dataclass(frozen=True)
class Level:
    """A horizontal strip from ``low`` to ``high`` across the whole chart (``low == high``: a rule)."""

    low: float
    high: float
    css: str
    label: str = ""


@dataclass(frozen=True)
class Whiskers:
    """A dot at (x, y) with a vertical bar from low to high for each x (a figure and its interval)."""

    xs: Sequence[Number]
    ys: Sequence[Number]
    lows: Sequence[Number]
    highs: Sequence[Number]
    css: str
    label: str = ""


Layer = Line | Band | Level | Whiskers


@dataclass(frozen=True)
class Frame:
    """The chart's size in CSS pixels and the margins its axes' labels take."""

    width: int = 320
    height: int = 160
    left: int = 44
    right: int = 8
    top: int = 8
    bottom: int = 20


def chart(
    layers: Sequence[Layer],
    x_ticks: Sequence[tuple[Number, str]],
    y_format: Callable[[float], str],
    css: str,
    title: str,
    frame: Frame = Frame(),
    attrs: dict[str, str] | None = None,
) -> str:
    """One ``<svg>`` element: ``layers`` on axes that fit them all, ``x_ticks`` (position, label) under the x axis,
    about four y ticks labelled by ``y_format``, and ``title`` as its accessible name and tooltip."""
    xs = [float(x) for layer in layers for x in _xs(layer)] + [float(x) for x, _ in x_ticks]
    ys = [float(y) for layer in layers for y in _ys(layer)]
    xs, ys = [x for x in xs if math.isfinite(x)], [y for y in ys if math.isfinite(y)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    ticks = nice_ticks(min(ys), max(ys)) if ys else [0.0, 1.0]
    y0, y1 = min(ticks[0], *ys) if ys else ticks[0], max(ticks[-1], *ys) if ys else ticks[-1]
    sx = _scale(x0, x1, frame.left, frame.width - frame.right)
    sy = _scale(y0, y1, frame.height - frame.bottom, frame.top)
    extra = "".join(f' {k}="{escape(v)}"' for k, v in (attrs or {}).items())
    parts = [
        f'<svg class="{css}" viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
        f'height="{frame.height}" role="img" aria-label="{escape(title)}"{extra}><title>{escape(title)}</title>'
    ]
    for y in ticks:
        parts.append(f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_f(sy(y))}" ')
        parts.append(f'y2="{_f(sy(y))}"/><text class="tick" x="{frame.left - 4}" y="{_f(sy(y) + 3)}" ')
        parts.append(f'text-anchor="end">{escape(y_format(y))}</text>')
    for x, label in x_ticks:
        anchor = "start" if sx(float(x)) < frame.left + 20 else "end" if sx(float(x)) > frame.width - 20 else "middle"
        parts.append(f'<text class="tick" x="{_f(sx(float(x)))}" y="{frame.height - 5}" text-anchor="{anchor}">')
        parts.append(f"{escape(label)}</text>")
    for layer in layers:
        parts.append(_draw(layer, sx, sy, frame))
    parts.append("</svg>")
    return "".join(parts)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round values (steps of 1, 2 or 5 x 10^k) spanning ``low`` .. ``high``."""
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    first = math.floor(low / step) * step
    out, value = [], first
    while value < high + step * 0.5:
        out.append(round(value, 12))
        value += step
    return out


def _scale(d0: float, d1: float, r0: float, r1: float) -> Callable[[float], float]:
    span = (d1 - d0) or 1.0
    return lambda v: r0 + (v - d0) / span * (r1 - r0)


def _xs(layer: Layer) -> Sequence[Number]:
    return () if isinstance(layer, Level) else layer.xs


def _ys(layer: Layer) -> list[Number]:
    if isinstance(layer, Line):
        return list(layer.ys)
    if isinstance(layer, Level):
        return [layer.low, layer.high]
    return [*layer.lows, *layer.highs] + (list(layer.ys) if isinstance(layer, Whiskers) else [])


def _draw(layer: Layer, sx: Callable[[float], float], sy: Callable[[float], float], frame: Frame) -> str:
    title = f"<title>{escape(layer.label)}</title>" if layer.label else ""
    if isinstance(layer, Line):
        d = " ".join(_path([(sx(x), sy(y)) for x, y in zip(layer.xs, layer.ys, strict=True)]))
        return f'<path class="{layer.css}" d="{d}" fill="none">{title}</path>' if d else ""
    if isinstance(layer, Band):
        paths = []
        for run in _runs(list(zip(layer.xs, layer.lows, layer.highs, strict=True))):
            upper = [(sx(x), sy(h)) for x, _, h in run]
            lower = [(sx(x), sy(lo)) for x, lo, _ in reversed(run)]
            paths.append("M" + " L".join(f"{_f(a)},{_f(b)}" for a, b in upper + lower) + " Z")
        return f'<path class="{layer.css}" d="{" ".join(paths)}">{title}</path>' if paths else ""
    if isinstance(layer, Level):
        top, bottom = sy(max(layer.high, layer.low)), sy(min(layer.high, layer.low))
        width = frame.width - frame.right - frame.left
        return (
            f'<rect class="{layer.css}" x="{frame.left}" y="{_f(top)}" width="{width}" '
            f'height="{_f(max(bottom - top, 1.0))}">{title}</rect>'
        )
    marks = []
    for x, y, lo, hi in zip(layer.xs, layer.ys, layer.lows, layer.highs, strict=True):
        if _finite(lo, hi):
            marks.append(f'<line x1="{_f(sx(x))}" x2="{_f(sx(x))}" y1="{_f(sy(lo))}" y2="{_f(sy(hi))}"/>')
        if _finite(y):
            marks.append(f'<circle cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="3"/>')
    return f'<g class="{layer.css}">{title}{"".join(marks)}</g>' if marks else ""


def _path(points: Sequence[tuple[float, float]]) -> list[str]:
    """SVG path commands through ``points``, a new sub-path after each run of NaN."""
    out, pen = [], False
    for x, y in points:
        if not _finite(x, y):
            pen = False
            continue
        out.append(f"{'L' if pen else 'M'}{_f(x)},{_f(y)}")
        pen = True
    return out


def _runs(rows: Sequence[tuple[Number, Number, Number]]) -> list[list[tuple[Number, Number, Number]]]:
    """The maximal runs of rows whose three values are all finite."""
    runs: list[list[tuple[Number, Number, Number]]] = [[]]
    for row in rows:
        if _finite(*row):
            runs[-1].append(row)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _finite(*values: Number | None) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


def _f(value: float) -> str:
    """A coordinate with one decimal (a tenth of a CSS pixel), '-0.0' written '0'."""
    text = f"{value:.1f}"
    return "0" if text in ("-0.0", "0.0") else text
