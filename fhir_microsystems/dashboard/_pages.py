"""The dashboard's HTML pages, rendered as strings (no template engine)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from html import escape

from fhir_microsystems.measures import MEASURES_BY_ID
from fhir_microsystems.spc import PROPORTION, Point, analyse

from ._csv import hidden
from ._format import formatter, order_key, short_title, title_of
from ._model import Report, RunData, Stratum, Team
from ._series import Series, kind_of, point_of
from ._svg import (
    BLUE,
    CHART_NAMES,
    GREEN,
    GREY,
    LIGHT,
    ORANGE,
    long_run_points,
    sparkline,
    spc_chart,
)

VARIATION_ICON = {
    "improvement": ("&#9650;", "Special cause improvement"),
    "concern": ("&#9660;", "Special cause concern"),
    "neutral-high": ("H", "Special cause, higher"),
    "neutral-low": ("L", "Special cause, lower"),
    "common": ("&#8764;", "Common cause variation"),
    "none": ("-", "Not enough data"),
}
ASSURANCE_ICON = {
    "pass": ("P", "Consistently passes the target"),
    "fail": ("F", "Consistently fails the target"),
    "hit-and-miss": ("?", "Hit and miss"),
    "none": ("-", "No assurance"),
}

#: What the source data cannot show, stated on the data-quality page.
LIMITATIONS = (
    "Patient-reported outcomes, functional status and satisfaction are not in the FHIR data "
    "read, so the Clinical Value Compass shows them as no data.",
    "Costs are not measured; lengths of stay and volumes stand in for resource use.",
    "Microsystems are derived from who treated whom: a team that shares no patients with its "
    "colleagues in the data is not seen as one.",
    "Periods whose follow-up window is still open are pending: drawn hollow and never used "
    "for limits or signals.",
    "Control limits need at least 12 scored periods; shorter series are run charts.",
)


@dataclass(frozen=True, slots=True)
class Context:
    """What every page needs: names and the options of the build."""

    teams: Mapping[str, Team]
    suppress_below: int
    worklists: bool
    title: str
    generated: str


def ms_page(ms: str) -> str:
    return f"p/{ms}.html"


def measure_page(ms: str, measure: str) -> str:
    return f"m/{ms}--{measure}.html"


def _count(n: float | None, ctx: Context) -> str:
    if n is None:
        return "-"
    if hidden(n, ctx.suppress_below):
        return f"&lt;{ctx.suppress_below}"
    return f"{n:,.0f}"


def _name(ms: str, ctx: Context) -> str:
    team = ctx.teams.get(ms)
    return team.name if team else ms


def _department_label(dept: str) -> str:
    if dept.startswith("Organization/"):
        return f"Department {dept.split('/', 1)[1][:8]}"
    return dept


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table; ``head`` is plain text, cells are HTML; ``numeric`` columns align right."""

    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    th = "".join(f'<th scope="col"{cls(i)}>{escape(h)}</th>' for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="table-wrap"><table><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _bar(share: float) -> str:
    return f'<span class="bar" aria-hidden="true"><i style="width:{share * 100:.0f}%"></i></span> '


def page(ctx: Context, title: str, body: str, *, depth: int, current: str) -> str:
    up = "../" * depth
    links = [("index.html", "Scorecard"), ("quality.html", "Data quality")]
    if ctx.worklists:
        links.append(("worklists.html", "Worklists"))
    nav = " ".join(
        f'<a href="{up}{href}"{" aria-current=page" if href == current else ""}>{label}</a>'
        for href, label in links
    )
    banner = (
        '<p class="banner" role="alert">Contains patient data: the worklists name patients. '
        "Do not share this folder outside the care team.</p>"
        if ctx.worklists
        else ""
    )
    suppressed = (
        f'<p class="muted">Counts under {ctx.suppress_below} are hidden.</p>'
        if ctx.suppress_below
        else ""
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} - {escape(ctx.title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="{up}assets/dashboard.css"></head><body>'
        f'<header><h1>{escape(ctx.title)}</h1><nav aria-label="pages">{nav}</nav>'
        f'<span class="period">{escape(ctx.generated)}</span></header>'
        f"<main>{banner}{suppressed}{body}</main>"
        f'<script src="{up}assets/dashboard.js"></script></body></html>\n'
    )


def _icon(kind: str, code: str, symbol: str, text: str, title: str, *, visible: bool) -> str:
    label = escape(text) if visible else f'<span class="sr">{escape(text)}</span>'
    return (
        f'<span class="icon {kind}-{code}" title="{escape(title)}">'
        f'<b aria-hidden="true">{symbol}</b>{label}</span>'
    )


def _icons(s: Series) -> str:
    vsym, vtext = VARIATION_ICON[s.variation.code]
    asym, atext = ASSURANCE_ICON[s.assurance.code]
    return (
        '<span class="icons">'
        + _icon("v", s.variation.code, vsym, vtext, s.variation.text, visible=False)
        + _icon("a", s.assurance.code, asym, atext, s.assurance.text, visible=False)
        + "</span>"
    )


def _shown(measure: str, points: Sequence[Point], ctx: Context) -> list[Point]:
    """``points`` as drawn: a value whose count is suppressed is not plotted."""
    out = []
    for p in points:
        small = hidden(p.denominator, ctx.suppress_below) or (
            measure == "volume" and hidden(p.value, ctx.suppress_below)
        )
        out.append(replace(p, value=None) if small else p)
    return out


def _value_text(measure: str, point: Point, ctx: Context) -> str:
    if measure == "volume":
        return _count(point.value, ctx)
    if hidden(point.denominator, ctx.suppress_below):
        return "suppressed"
    return formatter(measure)(point.value) if point.value is not None else "-"


def _latest_value(s: Series, ctx: Context) -> str:
    report = next((r for r in reversed(s.reports) if point_of(r).value is not None), None)
    if report is None:
        return "no value"
    text = _value_text(s.measure, point_of(report), ctx)
    return text + (" (pending)" if report.pending else "")


def _legend_icons() -> str:
    items = [
        _icon("v", code, sym, text, text, visible=True)
        for code, (sym, text) in VARIATION_ICON.items()
    ] + [
        _icon("a", code, sym, text, text, visible=True)
        for code, (sym, text) in ASSURANCE_ICON.items()
    ]
    return (
        '<ul class="legend" aria-label="icon legend">'
        + "".join(f"<li>{i}</li>" for i in items)
        + "</ul>"
    )


def _score_cell(ms: str, m: str, s: Series | None, ctx: Context) -> str:
    if s is None or all(p.value is None for p in s.points):
        return '<td class="muted" title="nothing to measure">-</td>'
    values = [p.value for p in _shown(m, s.points, ctx)]
    label = f"{title_of(m)} trend for {_name(ms, ctx)}"
    spark = sparkline(values, [p.pending for p in s.points], label)
    return (
        f'<td><div class="cell"><a href="{measure_page(ms, m)}">'
        f'<span class="v">{_latest_value(s, ctx)}</span>{spark}</a>{_icons(s)}</div></td>'
    )


def scorecard(series: Sequence[Series], data: RunData, ctx: Context) -> str:
    measures = sorted({s.measure for s in series}, key=order_key)
    by_ms: dict[str, dict[str, Series]] = defaultdict(dict)
    for s in series:
        by_ms[s.microsystem_id][s.measure] = s
    departments: dict[str, list[str]] = defaultdict(list)
    for ms in by_ms:
        team = ctx.teams.get(ms)
        departments[team.department if team else "unknown department"].append(ms)
    head = "".join(
        f'<th scope="col" title="{escape(title_of(m))}">{escape(short_title(m))}</th>'
        for m in measures
    )
    bodies = []
    for dept in sorted(departments, key=_department_label):
        rows = []
        for ms in sorted(departments[dept], key=lambda m: _name(m, ctx)):
            mine = by_ms[ms]
            cells = "".join(_score_cell(ms, m, mine.get(m), ctx) for m in measures)
            concern = sum(s.concern for s in mine.values())
            name = escape(_name(ms, ctx))
            rows.append(
                f'<tr class="ms" data-concern="{concern}" data-name="{name}">'
                f'<th scope="row"><a href="{ms_page(ms)}">{name}</a></th>{cells}</tr>'
            )
        bodies.append(
            f'<tbody class="dept-rows"><tr class="dept"><th colspan="{len(measures) + 1}">'
            f"{escape(_department_label(dept))}</th></tr>{''.join(rows)}</tbody>"
        )
    periods = sorted({r.start[:7] for r in data.reports})
    span = f"{periods[0]} to {periods[-1]}" if periods else "no periods"
    body = (
        f"<h2>Scorecard</h2><p>{len(by_ms)} microsystems, {len(periods)} periods ({span}). "
        "Each cell: the latest value, its trend, the variation (special or common cause, read "
        "with the measure's direction of improvement) and the assurance (the target against the "
        "control limits). Select a cell for its chart.</p>"
        f"{_legend_icons()}"
        '<button type="button" class="sort" id="sort-concern" aria-pressed="false">'
        "Sort by concern</button>"
        '<div class="table-wrap"><table class="scorecard"><thead><tr>'
        f'<th scope="col">Microsystem</th>{head}</tr></thead>{"".join(bodies)}</table></div>'
    )
    return page(ctx, "Scorecard", body, depth=0, current="index.html")


def _tips(
    measure: str, points: Sequence[Point], counts: Sequence[int | None], ctx: Context
) -> list[str]:
    """The counts each point's hover shows: numerator and denominator, or the n measured."""
    tips = []
    for p, n in zip(points, counts, strict=True):
        if kind_of(measure) == PROPORTION:
            tips.append(
                f" (numerator {_count(p.numerator, ctx)}, denominator {_count(p.denominator, ctx)})"
            )
        elif measure == "volume":
            tips.append("")
        else:
            tips.append(f" (denominator: {_count(n, ctx)} measured)")
    return tips


def _legend_chart() -> str:
    def line(colour: str, dash: str = "") -> str:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        return (
            '<svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" '
            f'stroke="{colour}" stroke-width="2"{d}/></svg>'
        )

    def mark(shape: str) -> str:
        return f'<svg width="12" height="12" aria-hidden="true">{shape}</svg>'

    items = (
        (line(GREY), "centre"),
        (line(LIGHT, "6 4"), "control limits"),
        (line(GREEN, "2 3"), "target"),
        (mark(f'<rect x="1" y="1" width="10" height="10" fill="{BLUE}"/>'), "outside the limits"),
        (mark(f'<path d="M6,0 L12,11 L0,11 Z" fill="{ORANGE}"/>'), "in an unusually long run"),
        ("", "blue: improvement, orange: concern"),
        (
            mark(f'<circle cx="6" cy="6" r="4" fill="#fff" stroke="{GREY}" stroke-width="2"/>'),
            "pending period",
        ),
    )
    return (
        '<ul class="legend" aria-label="chart legend">'
        + "".join(f"<li>{svg} {text}</li>" for svg, text in items)
        + "</ul>"
    )


def _runs_text(s: Series) -> str:
    runs = s.result.runs
    if runs is None:
        return "No runs analysis: no scored periods."
    verdict = "non-random variation" if runs.signal else "no signal"
    return (
        f"Runs analysis (latest part): {runs.useful} useful points, longest run "
        f"{runs.longest_run} (signal above {runs.longest_run_max}), {runs.crossings} crossings "
        f"(signal below {runs.crossings_min}): {verdict}."
    )


def _data_table(s: Series, ctx: Context) -> str:
    fmt = formatter(s.measure)

    def line(v: float | None) -> str:
        return fmt(v) if v is not None else "-"

    rows = [
        [
            r.start[:7],
            _value_text(s.measure, p, ctx),
            _count(r.numerator, ctx),
            _count(r.denominator, ctx),
            "pending" if r.pending else "complete",
            line(res.centre),
            line(res.lower),
            line(res.upper),
            "outside the limits" if res.outside else "",
        ]
        for r, p, res in zip(s.reports, s.points, s.result.points, strict=True)
    ]
    head = (
        "Period",
        "Value",
        "Numerator",
        "Denominator",
        "Status",
        "Centre",
        "Lower",
        "Upper",
        "Signal",
    )
    return (
        f"<details><summary>Data table</summary>{_table(head, rows, (1, 2, 3, 5, 6, 7))}</details>"
    )


def measure_detail(s: Series, ctx: Context, index: int) -> str:
    fmt = formatter(s.measure)
    definition = MEASURES_BY_ID.get(s.measure)
    target = definition.target.value if definition and definition.target else None
    labels = [r.start[:7] for r in s.reports]
    runs = s.result.runs
    long_flags = (
        long_run_points(s.points, s.result.points, runs.longest_run_max)
        if runs is not None and runs.long_run
        else [False] * len(s.points)
    )
    notes = []
    for a in s.annotations:
        i = next((k for k, r in enumerate(s.reports) if r.start[: len(a.period)] >= a.period), None)
        if i is not None:
            notes.append((i, ("rebase: " if a.rebase else "") + a.reason))
    name = _name(s.microsystem_id, ctx)
    title = f"{title_of(s.measure)}, {name}"
    improvement = s.latest.improvement if s.latest else None
    chart = spc_chart(
        _shown(s.measure, s.points, ctx),
        s.result.points,
        title=title,
        improvement=improvement,
        target=target,
        notes=notes,
        unit_fmt=fmt,
        counts=_tips(s.measure, s.points, [r.denominator for r in s.reports], ctx),
        labels=labels,
        long_run=long_flags,
        chart_id=f"main{index}",
        ceiling=1.0 if kind_of(s.measure) == PROPORTION else None,
    )
    body = (
        f'<p><a href="../{ms_page(s.microsystem_id)}">{escape(name)}</a></p>'
        f"<h2>{escape(title)}</h2>"
        f"<p>{escape(definition.description if definition else '')}</p>"
        f"<p>{CHART_NAMES[s.result.chart]}. Better is {escape(improvement or 'not defined')}. "
        f"{escape(s.variation.text.capitalize())}; {escape(s.assurance.text)}.</p>"
        f"{_legend_chart()}{chart}<p>{escape(_runs_text(s))}</p>{_data_table(s, ctx)}"
        f"{_small_multiples(s, ctx, fmt, labels)}"
    )
    return page(ctx, title, body, depth=1, current="")


def _stratum_point(measure: str, r: Report, st: Stratum | None) -> Point:
    if st is None:
        return Point(r.start, r.end, None, pending=r.pending)
    score = st.score
    if measure == "volume":
        score = float(st.denominator) if st.denominator is not None else None
    proportion = kind_of(measure) == PROPORTION
    return Point(
        r.start,
        r.end,
        score,
        float(st.numerator) if proportion and st.numerator is not None else None,
        float(st.denominator) if proportion and st.denominator is not None else None,
        r.pending,
    )


def _small_multiples(
    s: Series, ctx: Context, fmt: Callable[[float], str], labels: Sequence[str]
) -> str:
    by: dict[tuple[str, str], dict[int, Stratum]] = defaultdict(dict)
    for i, r in enumerate(s.reports):
        for st in r.strata:
            by[(st.stratifier, st.value)][i] = st
    figures: dict[str, list[str]] = defaultdict(list)
    improvement = s.latest.improvement if s.latest else None
    for n, ((stratifier, value), cells) in enumerate(sorted(by.items())):
        points = [_stratum_point(s.measure, r, cells.get(i)) for i, r in enumerate(s.reports)]
        counts = [cells[i].denominator if i in cells else None for i in range(len(s.reports))]
        result = analyse(points, kind_of(s.measure), nonnegative=True)
        svg = spc_chart(
            _shown(s.measure, points, ctx),
            result.points,
            title=f"{title_of(s.measure)}, {stratifier} {value}",
            improvement=improvement,
            target=None,
            notes=(),
            unit_fmt=fmt,
            counts=_tips(s.measure, points, counts, ctx),
            labels=labels,
            long_run=[False] * len(points),
            width=360,
            height=170,
            chart_id=f"sm{n}",
            ceiling=1.0 if kind_of(s.measure) == PROPORTION else None,
        )
        figures[stratifier].append(
            f"<figure><figcaption>{escape(value)}</figcaption>{svg}</figure>"
        )
    return "".join(
        f'<h3>By {escape(k)}</h3><div class="multiples">{"".join(v)}</div>'
        for k, v in figures.items()
    )


def _nodata(title: str) -> str:
    return f'<section><h2>{title}</h2><p class="nodata">no data</p></section>'


def _patients(ms: str, data: RunData, ctx: Context, period: str) -> str:
    cohorts = [c for c in data.cohorts if c.microsystem_id == ms]
    latest = sorted((c for c in cohorts if c.period == period), key=lambda c: c.cohort)
    if not latest:
        return _nodata("Patients")
    trend: dict[str, dict[str, int]] = defaultdict(dict)
    for c in cohorts:
        trend[c.cohort][c.period] = c.size
    periods = sorted({c.period for c in cohorts})
    rows = [
        [
            escape(c.cohort),
            _count(c.size, ctx),
            sparkline(
                [float(trend[c.cohort].get(p, 0)) for p in periods],
                [False] * len(periods),
                f"{c.cohort} patients over time",
            ),
        ]
        for c in latest
    ]
    return (
        f"<section><h2>Patients</h2><p>Cohorts in {escape(period)}:</p>"
        f"{_table(('Cohort', 'Patients', 'Trend'), rows, (1,))}</section>"
    )


def _professionals(teams: Sequence[Team], data: RunData, ctx: Context) -> str:
    if not teams:
        return _nodata("Professionals")
    now = teams[-1]
    core = {m.reference for m in now.members if m.core}
    occasional = {m.reference for m in now.members if not m.core}
    roles = Counter(m.role for m in now.members if m.core)
    joins: int | None = None
    leaves: int | None = None
    stability: float | None = None
    if len(teams) > 1:  # from the CareTeams: core members in and out, Jaccard of the cores
        before = {m.reference for m in teams[-2].members if m.core}
        joins, leaves = len(core - before), len(before - core)
        union = core | before
        stability = len(core & before) / len(union) if union else None
    change = data.changes.get((now.microsystem_id, now.period))
    if change is not None:  # the run's own figures, when summary.json has them
        joins = change.joins if change.joins is not None else joins
        leaves = change.leaves if change.leaves is not None else leaves
        stability = change.stability if change.stability is not None else stability
    role_text = ", ".join(f"{escape(r)} {_count(n, ctx)}" for r, n in roles.most_common())
    history = [
        [
            t.period,
            _count(sum(m.core for m in t.members), ctx),
            _count(sum(not m.core for m in t.members), ctx),
        ]
        for t in teams
    ]
    stable = "-" if stability is None else f"{stability:.2f}"
    return (
        f"<section><h2>Professionals</h2><p>{escape(now.period)}: "
        f"{_count(len(core), ctx)} core members ({role_text}), "
        f"{_count(len(occasional), ctx)} occasional. Since the period before: "
        f"{_count(joins, ctx)} joined and {_count(leaves, ctx)} left the core; stability "
        f"(Jaccard index of the core with the period before, 0..1) {stable}.</p>"
        "<details><summary>Members by period</summary>"
        f"{_table(('Period', 'Core', 'Occasional'), history, (1, 2))}</details></section>"
    )


def _processes(volume: Series | None, ctx: Context) -> str:
    if volume is None or volume.latest is None:
        return _nodata("Processes")
    classes = [st for st in volume.latest.strata if st.stratifier == "encounter-class"]
    if not classes:
        return _nodata("Processes")
    total = sum(st.denominator or 0 for st in classes) or 1
    rows = [
        [
            escape(st.value),
            _count(st.denominator, ctx),
            _bar((st.denominator or 0) / total) + f"{(st.denominator or 0) / total:.0%}",
        ]
        for st in classes
    ]
    return (
        f"<section><h2>Processes</h2><p>Encounter mix, {escape(volume.latest.start[:7])}:</p>"
        f"{_table(('Class', 'Encounters', 'Share'), rows, (1,))}</section>"
    )


def _patterns(assessment: Series | None) -> str:
    dims = assessment.latest.dimensions if assessment and assessment.latest else ()
    if not dims:
        return _nodata("Patterns")
    rows = [
        [
            escape(d.display),
            _bar(d.score) + f"{d.score:.2f}"
            if d.score is not None
            else '<span class="nodata">no data</span>',
        ]
        for d in dims
    ]
    return (
        "<section><h2>Patterns</h2><p>Assessment dimensions (0..1), latest period:</p>"
        f"{_table(('Dimension', 'Score'), rows)}</section>"
    )


#: The Clinical Value Compass's quadrants and the measures that feed them.
COMPASS = (
    ("Clinical", ("bp-control", "hba1c-poor-control", "readmission-30d", "ed-return-72h")),
    ("Functional", ()),
    ("Satisfaction", ()),
    ("Costs (resource use)", ("ed-length-of-stay", "inpatient-length-of-stay", "volume")),
)


def _compass(ms: str, mine: Mapping[str, Series], ctx: Context) -> str:
    quadrants = []
    for title, measures in COMPASS:
        items = [
            f'<li><a href="../{measure_page(ms, m)}">{escape(title_of(m))}</a>: '
            f"{_latest_value(mine[m], ctx)}</li>"
            for m in measures
            if m in mine and any(p.value is not None for p in mine[m].points)
        ]
        inner = f"<ul>{''.join(items)}</ul>" if items else '<p class="nodata">no data</p>'
        quadrants.append(f"<div><h3>{title}</h3>{inner}</div>")
    return f'<h2>Clinical Value Compass</h2><div class="compass">{"".join(quadrants)}</div>'


def profile(ms: str, series: Sequence[Series], data: RunData, ctx: Context) -> str:
    name = _name(ms, ctx)
    teams = sorted((t for t in data.teams if t.microsystem_id == ms), key=lambda t: t.period)
    periods = sorted({c.period for c in data.cohorts if c.microsystem_id == ms})
    period = teams[-1].period if teams else (periods[-1] if periods else "")
    mine = {s.measure: s for s in series if s.microsystem_id == ms}
    links = "".join(
        f'<li><a href="../{measure_page(ms, m)}">{escape(title_of(m))}</a></li>'
        for m in sorted(mine, key=order_key)
    )
    team = ctx.teams.get(ms)
    dept = _department_label(team.department) if team else ""
    body = (
        f'<h2>{escape(name)}</h2><p class="muted">{escape(ms)} &middot; {escape(dept)}</p>'
        f'<div class="ps">{_patients(ms, data, ctx, period)}{_professionals(teams, data, ctx)}'
        f"{_processes(mine.get('volume'), ctx)}{_patterns(mine.get('microsystem-assessment'))}"
        f"</div>{_compass(ms, mine, ctx)}<h2>Measures</h2><ul>{links}</ul>"
    )
    return page(ctx, name, body, depth=1, current="")


def quality(data: RunData, ctx: Context) -> str:
    kinds = [
        [escape(k), _count(v, ctx)]
        for k, v in sorted(data.findings_by_kind.items(), key=lambda kv: -kv[1])
    ]
    fields = Counter((f.kind, f.field) for f in data.findings)
    field_rows = [
        [escape(k), f"<code>{escape(fld)}</code>", _count(n, ctx)]
        for (k, fld), n in fields.most_common(50)
    ]
    unattributed = [
        [escape(k), _count(v, ctx)]
        for k, v in sorted(data.unattributed.items(), key=lambda kv: -kv[1])
    ]
    read = f"{data.encounters_read:,}" if data.encounters_read is not None else "unknown"
    parts = ["<h2>Data quality</h2><h3>Findings by kind</h3>"]
    parts.append(_table(("Kind", "Count"), kinds, (1,)) if kinds else "<p>No findings.</p>")
    if field_rows:
        parts.append("<h3>Most frequent fields</h3>")
        parts.append(_table(("Kind", "Field", "Count"), field_rows, (2,)))
    parts.append(
        f"<h3>Encounters not attributed to a microsystem</h3><p>Encounters read: {read}.</p>"
    )
    parts.append(
        _table(("Reason", "Encounters"), unattributed, (1,))
        if unattributed
        else "<p>Every encounter read was attributed (or the source does not say).</p>"
    )
    if data.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in data.problems[:100])
        parts.append(f"<h3>Resources the dashboard could not read</h3><ul>{items}</ul>")
    parts.append("<h3>What the data cannot show</h3><ul>")
    parts.extend(f"<li>{escape(t)}</li>" for t in LIMITATIONS)
    parts.append("</ul>")
    return page(ctx, "Data quality", "".join(parts), depth=0, current="quality.html")


def worklists(series: Sequence[Series], ctx: Context) -> str:
    sections = []
    for s in series:
        if not s.reports or not any(r.worklist for r in s.reports):
            continue
        latest = s.reports[-1]
        items = "".join(f"<li>{escape(ref)}</li>" for ref in latest.worklist) or "<li>none</li>"
        sections.append(
            f"<h3>{escape(_name(s.microsystem_id, ctx))}: {escape(title_of(s.measure))}, "
            f"{latest.start[:7]} ({_count(len(latest.worklist), ctx)} in the numerator)</h3>"
            f"<ul>{items}</ul>"
        )
    body = "<h2>Worklists</h2>" + (
        "".join(sections)
        if sections
        else "<p>No evidence Lists in the source: run with <code>--evidence</code> for them.</p>"
    )
    return page(ctx, "Worklists", body, depth=0, current="worklists.html")
