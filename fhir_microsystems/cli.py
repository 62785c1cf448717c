"""The ``fhir-microsystems`` command: run, dashboard, synth, load, worker, beat, status."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table

from fhir_microsystems._errors import FatalError, FhirMicrosystemsError
from fhir_microsystems._progress import ProgressDisplay
from fhir_microsystems._settings import Settings
from fhir_microsystems.periods import Granularity

#: How a run reads a FHIR server (``auto``: bulk when the server advertises ``$export``).
ReadMode = Literal["bulk", "search", "auto"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Derive clinical microsystems from FHIR R4 data and report their performance.",
)

#: Widest console layout (columns); the tables are built to fit it.
WIDTH = 100
console = Console(width=min(Console().width, WIDTH) if sys.stdout.isatty() else WIDTH)
err = Console(stderr=True)

#: Exit codes (README "Command line"): done; done but something failed; a bad argument,
#: setting or input; a bug; a temporary fault (try again later); interrupted.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_TEMPORARY = 75
EXIT_INTERRUPTED = 130

#: The embedded default: a small generated hospital (seed, patients, months).
DEMO_SEED, DEMO_PATIENTS, DEMO_MONTHS = 7, 1000, 6
DEMO_START = date(2025, 1, 1)


#: Column headings of the two results tables (encounter measures, clinical measures).
ENCOUNTER_HEADERS = {
    "volume": "encounters",
    "ed-length-of-stay": "ED LOS min",
    "ed-return-72h": "ED return 72h",
    "inpatient-length-of-stay": "IP LOS days",
    "readmission-30d": "readmit 30d",
}
CLINICAL_HEADERS = {
    "bp-control": "BP <140/90",
    "hba1c-poor-control": "HbA1c >9",
    "continuity-of-care": "COC index",
    "microsystem-assessment": "assessment",
}
MEASURE_HEADERS = {**ENCOUNTER_HEADERS, **CLINICAL_HEADERS}


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(value: str | None) -> str | None:
    """An option value that must be a calendar date ``YYYY-MM-DD``."""
    if value is None:
        return None
    try:
        if _DATE_RE.fullmatch(value):
            date.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise typer.BadParameter(f"{value!r} is not a date: expected YYYY-MM-DD, e.g. 2025-01-31")


def _instant(value: str | None) -> str | None:
    """An option value that must be an ISO 8601 date or instant."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an instant: expected ISO 8601, e.g. 2025-01-31T08:00:00Z"
        ) from None
    return value


def _at_least_one(value: int) -> int:
    if value < 1:
        raise typer.BadParameter(f"{value} is too small: expected a whole number of at least 1")
    return value


def _fraction(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise typer.BadParameter(f"{value:g} is out of range: expected a number from 0 to 1")
    return value


def demo_dir() -> Path:
    """Where the demo hospital is generated: the per-user cache, never the output folder
    (``$XDG_CACHE_HOME/fhir-microsystems/demo-<seed>-<patients>-<months>``, by default
    under ``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "fhir-microsystems" / f"demo-{DEMO_SEED}-{DEMO_PATIENTS}-{DEMO_MONTHS}"


def _demo_source() -> Path:
    """Generate (once) the bundled demo hospital into :func:`demo_dir`."""
    from fhir_microsystems.synth.generator import generate

    target = demo_dir()
    if not (target / "ground-truth.json").is_file():
        sys.stderr.write(
            f"generating the demo hospital ({DEMO_PATIENTS} patients, {DEMO_MONTHS} months, "
            f"seed {DEMO_SEED}) in {target}\n"
        )
        generate(
            target, seed=DEMO_SEED, patients=DEMO_PATIENTS, start=DEMO_START, months=DEMO_MONTHS
        )
    return target


def _fmt(value: Any, places: int = 2) -> str:
    """A plain value for the console: never ``None``, a dict or a list."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{places}f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v, places)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple):
        return "; ".join(_fmt(v, places) for v in value) or "none"
    return str(value)


def _score(measure: str, result: dict[str, Any]) -> str:
    """A result cell: percentages for proportions, the measure's precision otherwise;
    ``pending`` when the report is (its follow-up window reaches past the data)."""
    from fhir_microsystems.measures import MEASURES_BY_ID

    if result.get("status") == "pending":
        return "pending"
    value = result.get("score")
    defn = MEASURES_BY_ID.get(measure)
    if value is None and measure == "volume":
        value = max(result.get("populations", {}).values(), default=0)
    if value is None:
        return "-"
    if defn is not None and defn.scoring == "proportion":
        return f"{value * 100:.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    places = defn.precision if defn is not None and defn.precision < 4 else 2
    return f"{float(value):.{places}f}"


def _table(title: str, columns: Sequence[str], numeric_from: int, name_width: int = 26) -> Table:
    """A borderless table whose first column (a name) keeps ``name_width`` characters."""
    table = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False
    )
    for n, column in enumerate(columns):
        right = n >= numeric_from
        table.add_column(
            column,
            justify="right" if right else "left",
            overflow="fold",
            min_width=name_width if n == 0 else None,
        )
    return table


def _print_coverage_and_limitations(summary: dict[str, Any]) -> None:
    """A line per measure that missed qualifying encounters, and what the data cannot show."""
    for measure, cover in summary.get("coverage", {}).items():
        if cover["gap"]:
            console.print(
                f"[yellow]coverage gap: {measure} counts {cover['counted']} of "
                f"{cover['qualifying']} qualifying encounters ({cover['gap']} in no report)[/]"
            )
    for limitation in summary.get("limitations", ()):
        console.print(f"[yellow]limitation: {limitation['message']}[/]")


def print_summary(summary: dict[str, Any]) -> None:
    """Readable tables of the microsystems (latest period) and their results, then the
    run's counts in words. Fits :data:`WIDTH` columns; unknown summary keys are listed."""
    derivation = summary.get("derivation", {})
    rows = derivation.get("microsystems", [])
    periods = derivation.get("periods", [])
    latest = periods[-1] if periods else None
    if "unchanged_since" in derivation:
        console.print(f"nothing changed since {derivation['unchanged_since']}: outputs kept")
        return
    table = _table(
        f"Clinical microsystems, period {latest or '-'}",
        ("name", "microsystem", "core", "occasional", "patients", "encounters", "stability"),
        2,
        name_width=22,
    )
    for row in rows:
        if row["period"] == latest:
            table.add_row(
                _fmt(row.get("name")),
                _fmt(row.get("id")),
                *(_fmt(row.get(k)) for k in ("core", "occasional", "patients", "encounters")),
                _fmt(row.get("stability")),
            )
    console.print(table)
    names = {
        f"CareTeam/{row['id']}-{row['period']}": row["name"]
        for row in rows
        if row["period"] == latest
    }
    results = [r for r in summary.get("results", []) if r["microsystem"] in names]
    if results:
        by_ms: dict[str, dict[str, dict[str, Any]]] = {}
        for r in results:
            by_ms.setdefault(r["microsystem"], {})[r["measure"]] = r
        ordered = sorted(by_ms.items(), key=lambda kv: names.get(kv[0], kv[0]))
        for kind, headers in (("encounter", ENCOUNTER_HEADERS), ("clinical", CLINICAL_HEADERS)):
            scores = _table(
                f"Results, period {latest}: {kind} measures",
                ("microsystem", *headers.values()),
                1,
            )
            for ms, values in ordered:
                scores.add_row(
                    names.get(ms, ms.removeprefix("CareTeam/")),
                    *(_score(m, values[m]) if m in values else "-" for m in headers),
                )
            console.print(scores)
        console.print(
            "-: nothing to measure   pending: follow-up not over by the data's end   "
            "%: of the denominator",
            highlight=False,
        )
        rule = next((r["score_rule"] for r in results if "score_rule" in r), None)
        if rule:
            console.print(f"assessment: the overall result, {rule}", highlight=False)
    _print_counts(summary, derivation, periods, rows)
    _print_coverage_and_limitations(summary)


def _described(key: str, value: Any) -> list[str]:
    """Lines for a summary entry the console has no table for: nested mappings and lists of
    several items one per line, indented, anything else on the key's line."""
    title = key.replace("_", " ")
    nested = isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values())
    if nested:
        return [f"{title}:"] + [f"  {k}: {_fmt(v)}" for k, v in value.items()]
    if isinstance(value, list) and len(value) > 1:
        return [f"{title}:"] + [f"  - {_fmt(v)}" for v in value]
    return [f"{title}: {_fmt(value)}"]


#: Summary keys :func:`print_summary` renders itself.
_SHOWN = {
    "run_id",
    "spec",
    "derivation",
    "results",
    "findings",
    "files",
    "counts",
    "run",
    "coverage",
    "limitations",
    "sink",
}


def _print_counts(
    summary: dict[str, Any], derivation: dict[str, Any], periods: list[str], rows: list[Any]
) -> None:
    unattributed = derivation.get("unattributed", {})
    lost = sum(unattributed.values())
    lines = [
        f"periods: {len(periods)}, microsystem-periods: {len(rows)}",
        f"encounters: {_fmt(derivation.get('encounters_read', 0))} read, "
        f"{_fmt(derivation.get('encounters_attributed', 0))} attributed, "
        f"{_fmt(lost)} not attributed" + (f" ({_fmt(unattributed)})" if lost else ""),
    ]
    findings = summary.get("findings", {})
    total = findings.get("total", 0)
    where = (
        f"; listed in {summary['spec']['out_dir']}/findings.ndjson" if "files" in summary else ""
    )
    lines.append(
        f"data-quality findings: {_fmt(total)}"
        + (f" ({_fmt(findings.get('by_kind', {}))}){where}" if total else "")
    )
    if "files" in summary:
        lines.append(f"written: {_fmt(summary['files'])}")
    for key, value in summary.items():
        if key not in _SHOWN:
            lines.extend(_described(key, value))
    for line in lines:
        console.print(line, highlight=False)
    _print_sink_plan(summary.get("sink"))


def _print_sink_plan(plan: dict[str, Any] | None) -> None:
    """What was (or, dry, would be) done at the sink; retired and refused ids in full."""
    if not plan:
        return
    dry = plan.get("dry_run")
    counts = plan.get("counts", {})
    actions = ("created", "updated", "retired", "refused")
    head = "sink (dry run, nothing written): " if dry else "sink: "
    console.print(head + ", ".join(f"{counts.get(a, 0)} {a}" for a in actions), highlight=False)
    for action in actions:
        for ref in plan.get(action, []):
            console.print(f"  {'would be ' if dry else ''}{action}: {ref}", highlight=False)


@app.command()
def run(
    source: Annotated[
        str | None, typer.Option(help="NDJSON directory or FHIR base URL (default: demo).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default ./out).")] = None,
    sink: Annotated[str | None, typer.Option(help="FHIR base URL to write results to.")] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="First day assessed, YYYY-MM-DD (default: 12 months before the latest "
            "encounter's period end).",
            callback=_day,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            help="Day after the last assessed, YYYY-MM-DD (default: end of the latest "
            "encounter's period).",
            callback=_day,
        ),
    ] = None,
    period: Annotated[Granularity, typer.Option(help="Reporting period.")] = "month",
    evidence: Annotated[bool, typer.Option(help="Add audit Lists to every population.")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Re-assess only if something changed after this ISO 8601 instant.",
            callback=_instant,
        ),
    ] = None,
    celery: Annotated[bool, typer.Option(help="Dispatch to Celery workers.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(help="With --sink: list what would be created, updated, retired, refused."),
    ] = False,
    read: Annotated[
        ReadMode, typer.Option(help="How a server is read: bulk ($export), search, or auto.")
    ] = "auto",
    group: Annotated[
        str | None, typer.Option(help="Group id: a Group-level $export (implies bulk).")
    ] = None,
) -> None:
    """Derive microsystems, compute their measures, write CareTeam/Group/MeasureReport."""
    from fhir_microsystems.pipeline import RunSpec, run_in_process

    if start and end and end <= start:
        raise typer.BadParameter(
            f"{end!r} is not after --start {start!r}: --end is the day after the last assessed",
            param_hint="'--end'",
        )
    settings = Settings()
    _setup_logging(settings)
    out_dir = out or settings.out_dir
    location = source or settings.source or str(_demo_source())
    location, bulk_job = _bulk_location(
        location, out_dir, settings, read, group, start, end, celery
    )
    spec = RunSpec(
        source=location,
        out_dir=str(out_dir),
        sink_url=sink or settings.sink_url or None,
        start=start,
        end=end,
        period=period,
        evidence=evidence,
        canonical_base=settings.canonical_base,
        since=since,
        dry_run=dry_run,
    )
    if celery:
        from workers.cli import dispatch_run  # reads the workers' settings (Redis, waits)

        try:
            summary = dispatch_run(spec, bulk_job=bulk_job)
        except FatalError as exc:
            if "run_id" not in exc.details:
                raise
            sys.stderr.write(f"error: {exc}\n")  # the run ran and failed
            raise typer.Exit(EXIT_FAILED) from None
    else:
        with ProgressDisplay() as shown:
            summary = run_in_process(spec, progress=shown.update, settings=settings)
    print_summary(summary)
    _run_dashboard(out_dir)


def _run_dashboard(out_dir: Path) -> None:
    """Also write ``<out>/dashboard/index.html`` and ``<out>/spc.csv`` from the run's outputs."""
    from fhir_microsystems.dashboard import build_after_run

    try:
        site = build_after_run(out_dir)
    except FhirMicrosystemsError as exc:
        err.print(f"[red]dashboard not written:[/red] {exc}")
        return
    if site is not None:
        console.print(
            f"dashboard: {site.index} ({site.pages} pages), SPC table: {out_dir / 'spc.csv'}"
        )


@app.command()
def dashboard(
    source: Annotated[str, typer.Option(help="Output folder of a run, or FHIR base URL.")],
    out: Annotated[Path, typer.Option(help="Folder to write the dashboard to.")],
    annotations: Annotated[
        Path | None, typer.Option(help="CSV of period,reason[,kind,microsystem,measure].")
    ] = None,
    suppress_below: Annotated[int, typer.Option(help="Hide counts under N (0: none).")] = 0,
    worklists: Annotated[
        bool, typer.Option(help="Add worklists of patients (from --evidence Lists).")
    ] = False,
) -> None:
    """Build the static dashboard (scorecard, SPC charts, profiles) and its spc.csv."""
    from fhir_microsystems.dashboard import build_dashboard

    settings = Settings()
    _setup_logging(settings)
    try:
        site = build_dashboard(
            source,
            out,
            settings=settings,
            spc_csv=out / "spc.csv",
            annotations=annotations,
            suppress_below=suppress_below,
            worklists=worklists,
        )
    except FhirMicrosystemsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2 if not exc.temporary else 75) from exc
    console.print(f"dashboard: {site.index} ({site.pages} pages, {site.csv_rows} SPC rows)")


def _bulk_location(
    location: str,
    out_dir: Path,
    settings: Settings,
    read: ReadMode,
    group: str | None,
    start: str | None,
    end: str | None,
    celery: bool = False,
) -> tuple[str, Any]:
    """The source a run reads: a server URL (search) or its bulk export's directory; and,
    for ``--celery``, the bulk job the workers export (kick-off, polls, files) before the run
    reads that directory (None: no export).
    """
    from fhir_microsystems.bulk_runs import plan_bulk, resolve_source

    read = "bulk" if group and read == "auto" else read
    if celery:
        job = plan_bulk(location, out_dir, settings, read=read, group=group, start=start, end=end)
        return (job.directory, job) if job is not None else (location, None)
    resolved = resolve_source(
        location,
        out_dir,
        settings,
        read=read,
        group=group,
        start=start,
        end=end,
        on_poll=_show_poll,
    )
    if resolved.export is not None:
        _print_export(resolved.export)
    return resolved.location, None


def _show_poll(status: Any) -> None:
    err.print(f"[dim]export in progress: {status.progress or 'no progress given'}[/dim]")


def _print_export(report: Any) -> None:
    kind = f"changes since {report.since}" if report.since else "full"
    err.print(
        f"bulk export ({kind}) at {report.transaction_time}: {dict(report.resources)} "
        f"in {report.files} files, {report.deleted} deleted, {report.restarts} restarts"
        f"{', resumed' if report.resumed else ''}"
    )
    if report.findings.total:
        err.print(f"[yellow]export errors:[/yellow] {report.findings.summary()['by_kind']}")
        for finding in list(report.findings)[:5]:
            err.print(f"  {finding.where}: {finding.message}")


@app.command()
def export(
    source: Annotated[str, typer.Option(help="FHIR base URL to export from.")],
    out: Annotated[Path, typer.Option(help="Directory to write (NDJSON + manifest.json).")],
    group: Annotated[str | None, typer.Option(help="Group id: a Group-level export.")] = None,
    level: Annotated[str | None, typer.Option(help="system or patient (no --group).")] = None,
    types: Annotated[
        str | None, typer.Option("--type", help="Comma-separated types (default: a run's).")
    ] = None,
    incremental: Annotated[
        bool, typer.Option(help="Export changes since the directory's transactionTime.")
    ] = False,
    cancel: Annotated[bool, typer.Option(help="Cancel (DELETE) the export kept in --out.")] = False,
) -> None:
    """Bulk-export a FHIR server ($export) into a directory that `run --source DIR` reads."""
    from fhir_microsystems.bulk_runs import RUN_TYPES, bulk_policy
    from fhir_microsystems.client._bulk import ExportRequest
    from fhir_microsystems.connect import is_url, make_client
    from fhir_microsystems.exporting import cancel_export, check_directory, export_directory

    settings = Settings()
    _setup_logging(settings)
    if not is_url(source):
        raise typer.BadParameter("--source must be a FHIR base URL (http or https)")
    chosen = "group" if group else (level or settings.bulk_level)
    if chosen not in ("system", "patient", "group"):
        raise typer.BadParameter("level must be system or patient")
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip()) or RUN_TYPES
    request = ExportRequest(level=chosen, group_id=group, types=wanted)  # type: ignore[arg-type]
    try:
        check_directory(out)
        with make_client(source, settings) as client:
            if cancel:
                found = cancel_export(client, out, request)
                console.print("export cancelled" if found else "no export kept in that directory")
                return
            report = export_directory(
                client,
                out,
                request,
                policy=bulk_policy(settings),
                incremental=incremental,
                on_poll=_show_poll,
            )
    except FhirMicrosystemsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2 if not exc.temporary else 75) from exc
    _print_export(report)
    console.print(f"wrote {sum(report.resources.values())} resources to {out}")


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Directory to write the NDJSON hospital to.")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 1,
    patients: Annotated[
        int, typer.Option(help="Number of patients (at least 1).", callback=_at_least_one)
    ] = 2000,
    start: Annotated[
        str, typer.Option(help="First day simulated, YYYY-MM-DD.", callback=_day)
    ] = "2025-01-01",
    months: Annotated[
        int, typer.Option(help="Number of months simulated (at least 1).", callback=_at_least_one)
    ] = 12,
    noise: Annotated[
        float | None,
        typer.Option(
            help="Master noise level, 0 to 1 (default: the generator's).", callback=_fraction
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Server base the absolute references name (the server you load into)."),
    ] = None,
) -> None:
    """Generate a synthetic hospital with known microsystems (NDJSON + ground truth)."""
    from dataclasses import replace

    from fhir_microsystems.synth.config import SynthConfig
    from fhir_microsystems.synth.generator import generate

    config = SynthConfig()
    if noise is not None:
        config = replace(config, noise=noise)
    if base_url is not None:
        config = replace(config, base_url=base_url.rstrip("/"))
    summary = generate(
        out,
        seed=seed,
        patients=patients,
        start=date.fromisoformat(start),
        months=months,
        config=config,
    )
    total = summary.total
    console.print(
        f"wrote {total} resources to {out} in {summary.seconds:.1f} s "
        f"({total / max(summary.seconds, 1e-9):,.0f} resources/s): {_fmt(dict(summary.counts))}"
    )


@app.command()
def load(
    source: Annotated[
        Path,
        typer.Option(help="NDJSON directory to load.", exists=True, file_okay=False),
    ],
    sink: Annotated[str, typer.Option(help="FHIR base URL to load into.")],
    batch: Annotated[
        int, typer.Option(help="Resources per transaction bundle.", callback=_at_least_one)
    ] = 200,
) -> None:
    """Load an NDJSON directory into a FHIR server (transactions, ids kept, idempotent)."""
    from fhir_microsystems.connect import make_client
    from fhir_microsystems.loading import LoadProgress, load_directory

    settings = Settings()
    _setup_logging(settings)
    with ProgressDisplay() as shown:

        def progress(step: LoadProgress) -> None:
            detail = f"{step.resource_type}: {step.loaded:,} loaded, {step.failed:,} refused"
            shown.update("load", 0, None, step.total_loaded, detail)

        with make_client(sink, settings, role="sink") as client:
            report = load_directory(source, client, batch_size=batch, on_progress=progress)
    console.print(
        f"loaded {report.total:,} resources in {report.bundles:,} bundles: "
        f"{_fmt(dict(report.loaded))}",
        highlight=False,
    )
    if report.findings.total:
        kinds = _fmt(dict(sorted(report.findings.counts.items())))
        console.print(f"skipped bad lines: {report.findings.total:,} ({kinds})", highlight=False)
    for failure in report.failures:
        err.print(
            f"[red]refused[/red] {failure.count} {failure.resource_type} ({failure.where}): "
            f"HTTP {failure.status} {failure.outcome}"
        )
    if report.failures:
        raise typer.Exit(EXIT_FAILED)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """Start a Celery worker (extra arguments go to ``celery worker``)."""
    from workers.cli import worker as start_worker

    start_worker(list(ctx.args))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat(ctx: typer.Context) -> None:
    """Start Celery beat, the incremental re-assessment schedule (run exactly one)."""
    from workers.cli import beat as start_beat

    start_beat(list(ctx.args))


@app.command()
def status(
    run_id: Annotated[
        str | None, typer.Argument(help="Run id printed by run --celery (none: recent runs).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a Celery run's status and progress (while it runs and after)."""
    from workers.cli import status as show_status

    show_status(run_id, as_json=as_json)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The failed run to resume.")],
    force: Annotated[bool, typer.Option(help="Restart a run that looks active (stuck).")] = False,
    wait: Annotated[bool, typer.Option(help="Follow its progress until done.")] = True,
) -> None:
    """Resume a failed Celery run: finished partitions are not redone."""
    from workers.cli import resume as resume_run

    resume_run(run_id, force=force, wait=wait)


def _setting_problems(exc: ValidationError) -> str:
    """One line per bad ``FHIRMS_*`` value (secrets are not echoed)."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        field = Settings.model_fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        shown = "" if secret else f"={error.get('input')!r}"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"error: setting FHIRMS_{name.upper()}{shown}: {message}")
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"{message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point: a user's mistake is one line and a documented exit code,
    never a traceback (README "Command line")."""
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="fhir-microsystems",
            standalone_mode=False,
        )
    except typer.TyperException as exc:  # click's usage and parameter errors
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(exc.format_message() + "\n")
            return EXIT_USAGE
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        code = int(getattr(exc, "exit_code", EXIT_USAGE))
        message = exc.format_message().replace("Value error, ", "")
        return _fail(f"error: {message}{hint}", code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", EXIT_INTERRUPTED)
    except ValidationError as exc:
        return _fail(_setting_problems(exc), EXIT_USAGE)
    except FhirMicrosystemsError as exc:
        return _fail(f"error: {exc}", EXIT_TEMPORARY if exc.temporary else EXIT_USAGE)
    except Exception as exc:
        if os.environ.get("FHIRMS_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (a bug: please report it; "
            "FHIRMS_LOG_LEVEL=DEBUG shows where)",
            EXIT_INTERNAL,
        )
    return int(result) if isinstance(result, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
