"""The dashboard's HTML pages, rendered as strings (no template engine)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from fhir_microsystems.measures import MEASURES_BY_ID
from fhir_microsystems.spc import analyse

from ._csv import hidden
from ._format import formatter, order_key, short_title, title_of
from ._model import Report, RunData, Team
from ._series import Series, kind_of, point_of
from ._svg import long_run_points, sparkline, spc_chart

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
    """What every page needs: names, options and the page's depth for relative links."""

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
        '<p class="banner" role="alert">Contains patient data: worklists name patients. '
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
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - {escape(ctx.title)}'
        '</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="{up}assets/dashboard.css"></head><body>'
        f'<header><h1>{escape(ctx.title)}</h1><nav aria-label="pages">{nav}</nav>'
        f'<span class="muted" style="color:#cfd8e3">{escape(ctx.generated)}</span></header>'
        f"<main>{banner}{suppressed}{body}</main>"
        f'<script src="{up}assets/dashboard.js"></script></body></html>\n'
    )


def _icons(s: Series) -> str:
    vsym, vtext = VARIATION_ICON[s.variation.code]
    asym, atext = ASSURANCE_ICON[s.assurance.code]
    return (
        f'<span class="icons"><span class="icon v-{s.variation.code}" title="{escape(s.variation.text)}">'
        f'<b aria-hidden="true">{vsym}</b><span class="sr">{escape(vtext)}</span></span>'
        f'<span class="icon a-{s.assurance.code}" title="{escape(s.assurance.text)}">'
        f'<b aria-hidden="true">{asym}</b><span class="sr">{escape(atext)}</span></span></span>'
    )


def _latest_value(s: Series, ctx: Context) -> str:
    report = next((r for r in reversed(s.reports) if point_of(r).value is not None), None)
    if report is None:
        return "no value"
    point = point_of(report)
    fmt = formatter(s.measure)
    if s.measure == "volume":
        return _count(point.value, ctx)
    if hidden(point.denominator, ctx.suppress_below):
        return "suppressed"
    text = fmt(point.value) if point.value is not None else "no value"
    return text + (" (pending)" if report.pending else "")


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
            cells = []
            concern = 0
            for m in measures:
                s = by_ms[ms].get(m)
                if s is None or all(p.value is None for p in s.points):
                    cells.append('<td class="muted" title="nothing to measure">-</td>')
                    continue
                concern += s.concern
                values = [p.value for p in s.points]
                label = f"{title_of(m)} trend for {_name(ms, ctx)}"
                cells.append(
                    f'<td><div class="cell"><a href="{measure_page(ms, m)}">'
                    f'<span class="v">{_latest_value(s, ctx)}</span>'
                    f"{sparkline(values, [p.pending for p in s.points], label)}</a>"
                    f"{_icons(s)}</div></td>"
                )
            name = _name(ms, ctx)
            rows.append(
                f'<tr class="ms" data-concern="{concern}" data-name="{escape(name)}">'
                f'<th scope="row"><a href="{ms_page(ms)}">{escape(name)}</a></th>{"".join(cells)}</tr>'
            )
        bodies.append(
            f'<tbody class="dept-rows"><tr class="dept"><th colspan="{len(measures) + 1}">'
            f"{escape(_department_label(dept))}</th></tr>{''.join(rows)}</tbody>"
        )
    periods = sorted({r.start[:7] for r in data.reports})
    span = f"{periods[0]} to {periods[-1]}" if periods else "no periods"
    legend = "".join(
        f'<li><span class="icon v-{code}"><b aria-hidden="true">{sym}</b>{text}</span></li>'
        for code, (sym, text) in VARIATION_ICON.items()
    ) + "".join(
        f'<li><span class="icon a-{code}"><b aria-hidden="true">{sym}</b>{text}</span></li>'
        for code, (sym, text) in ASSURANCE_ICON.items()
    )
    body = (
        f"<h2>Scorecard</h2><p>{len(by_ms)} microsystems, {len(periods)} periods ({span}). "
        "Each cell: the latest value, its trend, the variation (special or common cause, read "
        "with the measure's direction of improvement) and the assurance (target against the "
        "control limits). Select a cell for its chart.</p>"
        f'<ul class="legend" aria-label="icon legend">{legend}</ul>'
        '<button type="button" class="sort" id="sort-concern" aria-pressed="false">Sort by concern'
        "</button>"
        f'<div class="table-wrap"><table class="scorecard"><thead><tr><th scope="col">Microsystem</th>'
        f"{head}</tr></thead>{''.join(bodies)}</table></div>"
    )
    return page(ctx, "Scorecard", body, depth=0, current="index.html")


def _labels(reports: Sequence[Report]) -> list[str]:
    return [r.start[:7] for r in reports]


def _counts_fn(ctx: Context, measure: str):  # type: ignore[no-untyped-def]
    def counts(p):  # type: ignore[no-untyped-def]
        if p.denominator is None:
            if measure == "volume":
                return ""
            return ""
        return f" (numerator {_count(p.numerator, ctx)}, denominator {_count(p.denominator, ctx)})"

    return counts


def _measure_counts(measure: str, reports: Sequence[Report], ctx: Context) -> list[str]:
    return [
        f" (n = {_count(r.denominator, ctx)})" if kind_of(measure) != "proportion" else ""
        for r in reports
    ]


def measure_detail(s: Series, ctx: Context, index: int) -> str:
    fmt = formatter(s.measure)
    definition = MEASURES_BY_ID.get(s.measure)
    target = definition.target.value if definition and definition.target else None
    labels = _labels(s.reports)
    longest = s.result.runs.longest_run_max if s.result.runs else 10**9
    long_flags = (
        long_run_points(s.points, s.result.points, longest)
        if s.result.runs_signal
        else [False] * len(s.points)
    )
    notes = []
    for a in s.annotations:
        i = next((k for k, r in enumerate(s.reports) if r.start[: len(a.period)] >= a.period), None)
        if i is not None:
            notes.append((i, ("rebase: " if a.rebase else "") + a.reason))
    extra = _measure_counts(s.measure, s.reports, ctx)
    base_counts = _counts_fn(ctx, s.measure)

    def counts(p):  # type: ignore[no-untyped-def]
        i = s.points.index(p)
        return base_counts(p) or extra[i]

    name = _name(s.microsystem_id, ctx)
    title = f"{title_of(s.measure)}, {name}"
    chart = spc_chart(
        s.points,
        s.result.points,
        title=title,
        improvement=s.latest.improvement if s.latest else None,
        target=target,
        notes=notes,
        unit_fmt=fmt,
        counts=counts,
        labels=labels,
        long_run=long_flags,
        chart_id=f"main{index}",
    )
    runs = s.result.runs
    runs_text = (
        f"Runs analysis (latest part): {runs.useful} useful points, longest run {runs.longest_run} "
        f"(signal above {runs.longest_run_max}), {runs.crossings} crossings (signal below "
        f"{runs.crossings_min}): {'non-random variation' if runs.signal else 'no signal'}."
        if runs
        else "No runs analysis: no scored periods."
    )
    chart_name = {"run": "Run chart (median)", "i": "I chart", "p-prime": "Laney P-prime chart"}[
        s.result.chart
    ]
    rows = []
    for r, p, res in zip(s.reports, s.points, s.result.points, strict=True):
        value = (
            "suppressed"
            if hidden(p.denominator, ctx.suppress_below)
            else (fmt(p.value) if p.value is not None else "-")
        )
        if s.measure == "volume":
            value = _count(p.value, ctx)
        rows.append(
            f"<tr><td>{r.start[:7]}</td><td class=num>{value}</td>"
            f"<td class=num>{_count(p.numerator, ctx)}</td><td class=num>{_count(r.denominator, ctx)}</td>"
            f"<td>{'pending' if r.pending else 'complete'}</td>"
            f"<td class=num>{fmt(res.centre) if res.centre is not None else '-'}</td>"
            f"<td class=num>{fmt(res.lower) if res.lower is not None else '-'}</td>"
            f"<td class=num>{fmt(res.upper) if res.upper is not None else '-'}</td>"
            f"<td>{'outside limits' if res.outside else ''}</td></tr>"
        )
    table = (
        "<details><summary>Data table</summary><div class=table-wrap><table><thead><tr>"
        "<th>Period</th><th class=num>Value</th><th class=num>Numerator</th>"
        "<th class=num>Denominator</th><th>Status</th><th class=num>Centre</th>"
        "<th class=num>Lower</th><th class=num>Upper</th><th>Signal</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></details>"
    )
    multiples = _small_multiples(s, ctx, fmt, labels)
    improvement = s.latest.improvement if s.latest else None
    body = (
        f'<p><a href="../{ms_page(s.microsystem_id)}">{escape(name)}</a></p>'
        f"<h2>{escape(title)}</h2>"
        f"<p>{escape(definition.description if definition else '')}</p>"
        f"<p>{chart_name}. Better is {escape(improvement or 'not defined')}. "
        f"{escape(s.variation.text.capitalize())}; {escape(s.assurance.text)}.</p>"
        f"{_legend()}{chart}<p>{escape(runs_text)}</p>{table}{multiples}"
    )
    return page(ctx, title, body, depth=1, current="")


def _legend() -> str:
    return (
        '<ul class="legend" aria-label="chart legend">'
        '<li><svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" stroke="#595959" stroke-width="2"/></svg> centre</li>'
        '<li><svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" stroke="#8c8c8c" stroke-width="2" stroke-dasharray="6 4"/></svg> control limits</li>'
        '<li><svg width="22" height="10" aria-hidden="true"><line x1="0" x2="22" y1="5" y2="5" stroke="#009E73" stroke-width="2" stroke-dasharray="2 3"/></svg> target</li>'
        '<li><svg width="12" height="12" aria-hidden="true"><rect x="1" y="1" width="10" height="10" fill="#0072B2"/></svg> outside the limits</li>'
        '<li><svg width="12" height="12" aria-hidden="true"><path d="M6,0 L12,11 L0,11 Z" fill="#E69F00"/></svg> in a non-random run</li>'
        "<li>blue: improvement, orange: concern</li>"
        '<li><svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" r="4" fill="#fff" stroke="#595959" stroke-width="2"/></svg> pending period</li>'
        "</ul>"
    )


def _small_multiples(s: Series, ctx: Context, fmt, labels: Sequence[str]) -> str:  # type: ignore[no-untyped-def]
    by: dict[tuple[str, str], dict[int, object]] = defaultdict(dict)
    for i, r in enumerate(s.reports):
        for st in r.strata:
            by[(st.stratifier, st.value)][i] = st
    if not by:
        return ""
    from fhir_microsystems.spc import Point

    figures: dict[str, list[str]] = defaultdict(list)
    proportion = kind_of(s.measure) == "proportion"
    for n, ((stratifier, value), cells) in enumerate(sorted(by.items())):
        points = []
        for i, r in enumerate(s.reports):
            st = cells.get(i)
            score = getattr(st, "score", None)
            num = getattr(st, "numerator", None)
            den = getattr(st, "denominator", None)
            if s.measure == "volume" and st is not None:
                score = float(den) if den is not None else None
            points.append(
                Point(
                    r.start,
                    r.end,
                    score,
                    float(num) if proportion and num is not None else None,
                    float(den) if proportion and den is not None else None,
                    r.pending,
                )
            )
        result = analyse(points, kind_of(s.measure))
        counts = _counts_fn(ctx, s.measure)
        svg = spc_chart(
            points,
            result.points,
            title=f"{title_of(s.measure)}, {stratifier} {value}",
            improvement=s.latest.improvement if s.latest else None,
            target=None,
            notes=(),
            unit_fmt=fmt,
            counts=counts,
            labels=labels,
            long_run=[False] * len(points),
            width=360,
            height=170,
            chart_id=f"sm{n}",
        )
        figures[stratifier].append(
            f"<figure><figcaption>{escape(value)}</figcaption>{svg}</figure>"
        )
    return "".join(
        f"<h3>By {escape(k)}</h3><div class=multiples>{''.join(v)}</div>"
        for k, v in figures.items()
    )


def profile(ms: str, series: Sequence[Series], data: RunData, ctx: Context) -> str:
    name = _name(ms, ctx)
    teams = sorted((t for t in data.teams if t.microsystem_id == ms), key=lambda t: t.period)
    cohorts = [c for c in data.cohorts if c.microsystem_id == ms]
    latest_period = teams[-1].period if teams else (max((c.period for c in cohorts), default=""))
    # Patients
    latest = sorted((c for c in cohorts if c.period == latest_period), key=lambda c: c.cohort)
    trend = defaultdict(dict)
    for c in cohorts:
        trend[c.cohort][c.period] = c.size
    periods = sorted({c.period for c in cohorts})
    patient_rows = "".join(
        f"<tr><td>{escape(c.cohort)}</td><td class=num>{_count(c.size, ctx)}</td><td>"
        f"{sparkline([float(trend[c.cohort].get(p, 0)) for p in periods], [False] * len(periods), f'{c.cohort} patients over time')}</td></tr>"
        for c in latest
    )
    patients = (
        f"<section><h2>Patients</h2><p>Cohorts in {escape(latest_period)}:</p>"
        f"<table><thead><tr><th>Cohort</th><th class=num>Patients</th><th>Trend</th></tr></thead>"
        f"<tbody>{patient_rows}</tbody></table></section>"
        if latest
        else "<section><h2>Patients</h2><p class=nodata>no data</p></section>"
    )
    # Professionals
    if teams:
        now = teams[-1]
        core = {m.reference for m in now.members if m.core}
        occasional = {m.reference for m in now.members if not m.core}
        roles = Counter(m.role for m in now.members if m.core)
        prev = teams[-2] if len(teams) > 1 else None
        if prev:
            before = {m.reference for m in prev.members if m.core}
            joins, leaves = len(core - before), len(before - core)
            stability = f"{len(core & before) / len(before):.0%}" if before else "-"
        else:
            joins = leaves = 0
            stability = "-"
        history = "".join(
            f"<tr><td>{t.period}</td><td class=num>{_count(sum(m.core for m in t.members), ctx)}</td>"
            f"<td class=num>{_count(sum(not m.core for m in t.members), ctx)}</td></tr>"
            for t in teams
        )
        role_text = ", ".join(f"{r} {_count(n, ctx)}" for r, n in roles.most_common())
        professionals = (
            f"<section><h2>Professionals</h2><p>{escape(latest_period)}: {_count(len(core), ctx)} core members "
            f"({escape(role_text) if not ctx.suppress_below else role_text}), {_count(len(occasional), ctx)} occasional. "
            f"Since the period before: {_count(joins, ctx)} joined, {_count(leaves, ctx)} left the core; "
            f"stability (last period's core still core) {stability}.</p>"
            f"<details><summary>Members by period</summary><table><thead><tr><th>Period</th>"
            f"<th class=num>Core</th><th class=num>Occasional</th></tr></thead><tbody>{history}</tbody>"
            f"</table></details></section>"
        )
    else:
        professionals = "<section><h2>Professionals</h2><p class=nodata>no data</p></section>"
    # Processes: encounter mix
    mine = {s.measure: s for s in series if s.microsystem_id == ms}
    volume = mine.get("volume")
    mix = ""
    if volume and volume.latest:
        classes = [st for st in volume.latest.strata if st.stratifier == "encounter-class"]
        total = sum(st.denominator or 0 for st in classes) or 1
        mix = "".join(
            f"<tr><td>{escape(st.value)}</td><td class=num>{_count(st.denominator, ctx)}</td>"
            f'<td><span class="bar" aria-hidden="true"><i style="width:{(st.denominator or 0) / total * 100:.0f}%"></i></span> '
            f"{(st.denominator or 0) / total:.0%}</td></tr>"
            for st in classes
        )
    processes = (
        f"<section><h2>Processes</h2><p>Encounter mix, {escape(volume.latest.start[:7]) if volume and volume.latest else ''}:</p>"
        f"<table><thead><tr><th>Class</th><th class=num>Encounters</th><th>Share</th></tr></thead>"
        f"<tbody>{mix}</tbody></table></section>"
        if mix
        else "<section><h2>Processes</h2><p class=nodata>no data</p></section>"
    )
    # Patterns: assessment dimensions
    assessment = mine.get("microsystem-assessment")
    dims = assessment.latest.dimensions if assessment and assessment.latest else ()
    patterns = (
        "<section><h2>Patterns</h2><p>Assessment dimensions (0..1):</p><table><tbody>"
        + "".join(
            f"<tr><td>{escape(d.display)}</td><td>"
            + (
                f'<span class="bar" aria-hidden="true"><i style="width:{d.score * 100:.0f}%"></i></span> {d.score:.2f}'
                if d.score is not None
                else "<span class=nodata>no data</span>"
            )
            + "</td></tr>"
            for d in dims
        )
        + "</tbody></table></section>"
        if dims
        else "<section><h2>Patterns</h2><p class=nodata>no data</p></section>"
    )

    # Clinical Value Compass
    def quadrant(title: str, measures: Sequence[str]) -> str:
        items = []
        for m in measures:
            s = mine.get(m)
            if s and any(p.value is not None for p in s.points):
                items.append(
                    f'<li><a href="../{measure_page(ms, m)}">{escape(title_of(m))}</a>: {_latest_value(s, ctx)}</li>'
                )
        inner = f"<ul>{''.join(items)}</ul>" if items else "<p class=nodata>no data</p>"
        return f"<div><h3>{title}</h3>{inner}</div>"

    compass = (
        "<h2>Clinical Value Compass</h2><div class=compass>"
        + quadrant(
            "Clinical", ("bp-control", "hba1c-poor-control", "readmission-30d", "ed-return-72h")
        )
        + quadrant("Functional", ())
        + quadrant("Satisfaction", ())
        + quadrant(
            "Costs (resource use)", ("ed-length-of-stay", "inpatient-length-of-stay", "volume")
        )
        + "</div>"
    )
    links = "".join(
        f'<li><a href="../{measure_page(ms, m)}">{escape(title_of(m))}</a></li>'
        for m in sorted(mine, key=order_key)
    )
    team = ctx.teams.get(ms)
    dept = _department_label(team.department) if team else ""
    body = (
        f"<h2>{escape(name)}</h2><p class=muted>{escape(ms)} &middot; {escape(dept)}</p>"
        f'<div class="ps">{patients}{professionals}{processes}{patterns}</div>'
        f"{compass}<h2>Measures</h2><ul>{links}</ul>"
    )
    return page(ctx, name, body, depth=1, current="")


def quality(data: RunData, ctx: Context) -> str:
    kinds = "".join(
        f"<tr><td>{escape(k)}</td><td class=num>{_count(v, ctx)}</td></tr>"
        for k, v in sorted(data.findings_by_kind.items(), key=lambda kv: -kv[1])
    )
    fields = Counter((f.kind, f.field) for f in data.findings)
    field_rows = "".join(
        f"<tr><td>{escape(k)}</td><td><code>{escape(fld)}</code></td><td class=num>{_count(n, ctx)}</td></tr>"
        for (k, fld), n in fields.most_common(50)
    )
    unattributed = "".join(
        f"<tr><td>{escape(k)}</td><td class=num>{_count(v, ctx)}</td></tr>"
        for k, v in sorted(data.unattributed.items(), key=lambda kv: -kv[1])
    )
    read = f"{data.encounters_read:,}" if data.encounters_read is not None else "unknown"
    problems = "".join(f"<li>{escape(p)}</li>" for p in data.problems[:100])
    body = (
        "<h2>Data quality</h2>"
        f"<h3>Findings by kind</h3>"
        + (
            f"<table><thead><tr><th>Kind</th><th class=num>Count</th></tr></thead><tbody>{kinds}</tbody></table>"
            if kinds
            else "<p>No findings.</p>"
        )
        + (
            f"<h3>Most frequent fields</h3><table><thead><tr><th>Kind</th><th>Field</th><th class=num>Count</th></tr></thead><tbody>{field_rows}</tbody></table>"
            if field_rows
            else ""
        )
        + f"<h3>Encounters not attributed to a microsystem</h3><p>Encounters read: {read}.</p>"
        + (
            f"<table><thead><tr><th>Reason</th><th class=num>Encounters</th></tr></thead><tbody>{unattributed}</tbody></table>"
            if unattributed
            else "<p>Every encounter read was attributed (or the source does not say).</p>"
        )
        + (
            f"<h3>Resources the dashboard could not read</h3><ul>{problems}</ul>"
            if problems
            else ""
        )
        + "<h3>What the data cannot show</h3><ul>"
        + "".join(f"<li>{escape(t)}</li>" for t in LIMITATIONS)
        + "</ul>"
    )
    return page(ctx, "Data quality", body, depth=0, current="quality.html")


def worklists(series: Sequence[Series], ctx: Context) -> str:
    sections = []
    for s in series:
        latest = next((r for r in reversed(s.reports) if r.worklist), None)
        if latest is None:
            continue
        items = "".join(f"<li>{escape(ref)}</li>" for ref in latest.worklist)
        sections.append(
            f"<h3>{escape(_name(s.microsystem_id, ctx))}: {escape(title_of(s.measure))}, "
            f"{latest.start[:7]} ({len(latest.worklist)} in the numerator)</h3><ul>{items}</ul>"
        )
    body = "<h2>Worklists</h2>" + (
        "".join(sections)
        if sections
        else "<p>No evidence Lists in the source: run with <code>--evidence</code> to get them.</p>"
    )
    return page(ctx, "Worklists", body, depth=0, current="worklists.html")
