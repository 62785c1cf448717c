"""Inline SVG charts rendered on the server: sparklines and SPC charts, no chart library.

Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies) and every
meaning is also carried by a shape and a text alternative.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from fhir_microsystems.spc import Point, PointResult

BLUE = "#0072B2"  # improvement
ORANGE = "#E69F00"  # concern
GREEN = "#009E73"  # target
GREY = "#595959"  # data line, centre
LIGHT = "#8c8c8c"  # limits
PURPLE = "#CC79A7"  # annotations
CHART_NAMES = {"run": "Run chart (median)", "i": "I chart", "p-prime": "Laney P-prime chart"}


def _fmt(value: float | None, unit_fmt: Callable[[float], str]) -> str:
    return "no value" if value is None else unit_fmt(value)


def _scale(lo: float, hi: float, top: float, bottom: float) -> Callable[[float], float]:
    span = hi - lo or 1.0

    def y(value: float) -> float:
        return round(bottom - (value - lo) / span * (bottom - top), 1)

    return y


def sparkline(values: Sequence[float | None], pending: Sequence[bool], label: str) -> str:
    """A 96 x 24 sparkline; the last point is drawn, hollow when pending."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return '<span class="spark-none" aria-hidden="true"></span>'
    w, h = 96, 24
    lo = min(v for _, v in known)
    hi = max(v for _, v in known)
    y = _scale(lo, hi, 3, h - 3)
    step = (w - 6) / max(len(values) - 1, 1)
    coords = " ".join(f"{3 + i * step:.1f},{y(v)}" for i, v in known)
    li, lv = known[-1]
    fill = "#fff" if pending[li] else GREY
    return (
        f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{escape(label)}"><polyline points="{coords}" fill="none" '
        f'stroke="{GREY}" stroke-width="1.5"/><circle cx="{3 + li * step:.1f}" cy="{y(lv)}" '
        f'r="2.5" fill="{fill}" stroke="{GREY}"/></svg>'
    )


def spc_chart(
    points: Sequence[Point],
    results: Sequence[PointResult],
    *,
    title: str,
    improvement: str | None,
    target: float | None,
    notes: Sequence[tuple[int, str]],
    unit_fmt: Callable[[float], str],
    counts: Sequence[str],
    labels: Sequence[str],
    long_run: Sequence[bool],
    width: int = 720,
    height: int = 280,
    chart_id: str = "c",
    ceiling: float | None = None,
) -> str:
    """An SPC chart: data line, centre, limits, target, annotations; signal points marked.

    Points outside the limits are drawn as squares and points of a non-random run as
    triangles, coloured blue (improvement) or orange (concern); pending periods are hollow.
    Each point carries ``data-tip`` (period, value, numerator / denominator) for the hover.
    """
    left, right, top, bottom = 56, 28, 14, height - 30
    vals = [p.value for p in points if p.value is not None]
    lines = [v for r in results for v in (r.centre, r.lower, r.upper) if v is not None]
    every = vals + lines + ([target] if target is not None else [])
    if not vals:
        return f'<p class="nodata" role="img" aria-label="{escape(title)}">no data</p>'
    lo, hi = min(every), max(every)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    if lo < 0 <= min(every):
        lo = 0.0
    if ceiling is not None and hi > ceiling >= max(every):
        hi = ceiling
    y = _scale(lo, hi, top, bottom)
    n = len(points)
    step = (width - left - right) / max(n - 1, 1)

    def x(i: int) -> float:
        return round(left + i * step, 1)

    parts: list[str] = []
    # axis ticks
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v)}" y2="{y(v)}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(v) + 4}" class="tick" text-anchor="end">'
            f"{escape(unit_fmt(v))}</text>"
        )
    every_nth = max(1, -(-n * 56 // (width - left - right)))
    for i, label in enumerate(labels):
        if i % every_nth == 0 or (i == n - 1 and i % every_nth > every_nth // 2):
            parts.append(
                f'<text x="{x(i)}" y="{height - 10}" class="tick" text-anchor="middle">'
                f"{escape(label)}</text>"
            )

    def segment_path(attr: str) -> str:
        d: list[str] = []
        prev_part = None
        for i, r in enumerate(results):
            v = getattr(r, attr)
            if v is None:
                prev_part = None
                continue
            cmd = "L" if prev_part == r.part else "M"
            d.append(f"{cmd}{x(i) - (step / 2 if cmd == 'M' and n > 1 else 0):.1f},{y(v)}")
            d.append(f"L{x(i) + (step / 2 if n > 1 else 0):.1f},{y(v)}")
            prev_part = r.part
        return " ".join(d)

    if target is not None:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(target)}" y2="{y(target)}" '
            f'stroke="{GREEN}" stroke-width="2" stroke-dasharray="2 3" class="target"/>'
            f'<text x="{width - right}" y="{y(target) - 4}" class="lbl" text-anchor="end" '
            f'fill="{GREEN}">target</text>'
        )
    for attr, cls, style in (
        ("lower", "limit", f'stroke="{LIGHT}" stroke-dasharray="6 4"'),
        ("upper", "limit", f'stroke="{LIGHT}" stroke-dasharray="6 4"'),
        ("centre", "centre", f'stroke="{GREY}"'),
    ):
        d = segment_path(attr)
        if d:
            parts.append(f'<path d="{d}" class="{cls}" fill="none" stroke-width="1.5" {style}/>')
    for i, text in notes:
        parts.append(
            f'<line x1="{x(i) - step / 2:.1f}" x2="{x(i) - step / 2:.1f}" y1="{top}" y2="{bottom}" '
            f'stroke="{PURPLE}" stroke-width="1.5" stroke-dasharray="1 3"/>'
            f'<text x="{x(i) - step / 2 + 3:.1f}" y="{top + 10}" class="lbl note" fill="#6b3a5a">'
            f"{escape(text[:40])}</text>"
        )
    coords = [f"{x(i)},{y(p.value)}" for i, p in enumerate(points) if p.value is not None]
    parts.append(
        f'<polyline points="{" ".join(coords)}" fill="none" stroke="{GREY}" stroke-width="1.5"/>'
    )
    for i, (p, r) in enumerate(zip(points, results, strict=True)):
        if p.value is None:
            continue
        cx, cy = x(i), y(p.value)
        signal = r.outside or long_run[i]
        colour = GREY
        if signal and r.centre is not None:
            high = p.value > r.centre
            if improvement in ("increase", "decrease"):
                colour = BLUE if high == (improvement == "increase") else ORANGE
            else:
                colour = PURPLE
        fill = "#fff" if p.pending else colour
        tip = f"{labels[i]}: {_fmt(p.value, unit_fmt)}{counts[i]}"
        if p.pending:
            tip += " (pending: follow-up not complete)"
        if r.outside:
            tip += " - outside the limits"
        elif long_run[i]:
            tip += " - part of a non-random run"
        cls = "pt" + (" sig" if signal else "") + (" pending" if p.pending else "")
        attrs = (
            f'class="{cls}" data-tip="{escape(tip)}" tabindex="0" '
            f'fill="{fill}" stroke="{colour}" stroke-width="2"'
        )
        if r.outside:
            parts.append(f'<rect x="{cx - 5}" y="{cy - 5}" width="10" height="10" {attrs}/>')
        elif long_run[i]:
            parts.append(
                f'<path d="M{cx},{cy - 6} L{cx + 6},{cy + 5} L{cx - 6},{cy + 5} Z" {attrs}/>'
            )
        else:
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="4" {attrs}/>')
    desc_id = f"{chart_id}-desc"
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {desc_id}" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{desc_id}">'
        f"{escape(describe(points, results, unit_fmt, labels, long_run))}</desc>"
        f"{''.join(parts)}</svg>"
    )


def long_run_points(
    points: Sequence[Point], results: Sequence[PointResult], longest_max: int
) -> list[bool]:
    """Which usable points belong to a run on one side of the centre longer than allowed."""
    flags = [False] * len(points)
    run: list[int] = []
    side = 0
    for i, (p, r) in enumerate(zip(points, results, strict=True)):
        if not p.usable or p.value is None or r.centre is None or p.value == r.centre:
            continue
        s = 1 if p.value > r.centre else -1
        if run and (s != side or results[run[-1]].part != r.part):
            if len(run) > longest_max:
                for k in run:
                    flags[k] = True
            run = []
        side = s
        run.append(i)
    if len(run) > longest_max:
        for k in run:
            flags[k] = True
    return flags


def describe(
    points: Sequence[Point],
    results: Sequence[PointResult],
    unit_fmt: Callable[[float], str],
    labels: Sequence[str],
    long_run: Sequence[bool],
) -> str:
    """The text alternative of a chart."""
    known = [(labels[i], p) for i, p in enumerate(points) if p.value is not None]
    if not known:
        return "No data."
    last_label, last = known[-1]
    r = results[-1]
    text = [
        f"{len(known)} periods from {known[0][0]} to {last_label}; "
        f"latest {_fmt(last.value, unit_fmt)}. {CHART_NAMES[r.chart]}"
    ]
    if r.centre is not None:
        text.append(f" with centre {unit_fmt(r.centre)}")
    if r.lower is not None and r.upper is not None:
        text.append(f" and limits {unit_fmt(r.lower)} to {unit_fmt(r.upper)}")
    text.append(".")
    outside = [labels[i] for i, res in enumerate(results) if res.outside]
    if outside:
        text.append(f" Outside the limits: {', '.join(outside)}.")
    if any(long_run):
        text.append(" A non-random run is marked.")
    pending = [labels[i] for i, p in enumerate(points) if p.pending]
    if pending:
        text.append(f" Pending: {', '.join(pending)}.")
    return "".join(text)
