"""The ``fhir-microsystems`` command: run, synth, load, worker, beat, status."""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fhir_microsystems._errors import FhirMicrosystemsError
from fhir_microsystems._settings import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Derive clinical microsystems from FHIR R4 data and report their performance.",
)
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

#: The embedded default: a small generated hospital (seed, patients, months).
DEMO_SEED, DEMO_PATIENTS, DEMO_MONTHS = 7, 1000, 6
DEMO_START = date(2025, 1, 1)


#: Short column headings of the results table, in reading order.
MEASURE_HEADERS = {
    "volume": "encounters",
    "ed-length-of-stay": "ED LOS min",
    "ed-return-72h": "ED return 72h",
    "inpatient-length-of-stay": "IP LOS d",
    "readmission-30d": "readmit 30d",
    "bp-control": "BP <140/90",
    "hba1c-poor-control": "HbA1c >9",
    "continuity-of-care": "COC index",
    "microsystem-assessment": "assessment",
}


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _demo_source(out_dir: Path) -> Path:
    """Generate (once) the bundled demo hospital under ``out_dir/demo-input``."""
    from fhir_microsystems.synth.generator import generate

    target = out_dir / "demo-input"
    if not (target / "ground-truth.json").is_file():
        err.print(
            f"[dim]generating the demo hospital ({DEMO_PATIENTS} patients, {DEMO_MONTHS} "
            f"months, seed {DEMO_SEED}) in {target}[/dim]"
        )
        generate(
            target, seed=DEMO_SEED, patients=DEMO_PATIENTS, start=DEMO_START, months=DEMO_MONTHS
        )
    return target


def _fmt(value: Any, places: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{places}f}"
    return str(value)


def print_summary(summary: dict[str, Any]) -> None:
    """Readable tables of the microsystems (latest period) and their results."""
    derivation = summary.get("derivation", {})
    rows = derivation.get("microsystems", [])
    periods = derivation.get("periods", [])
    latest = periods[-1] if periods else None
    table = Table(title=f"Clinical microsystems, period {latest or '-'}")
    for column in ("microsystem", "name", "core", "occasional", "patients", "encounters"):
        table.add_column(
            column, justify="right" if column not in ("microsystem", "name") else "left"
        )
    table.add_column("stability", justify="right")
    for row in rows:
        if row["period"] != latest:
            continue
        table.add_row(
            row["id"],
            row["name"],
            str(row["core"]),
            str(row["occasional"]),
            str(row["patients"]),
            str(row["encounters"]),
            _fmt(row["stability"]),
        )
    console.print(table)
    results = [r for r in summary.get("results", []) if latest and r["period"] == latest]
    if results:
        names = {f"CareTeam/{row['id']}-{row['period']}": row["name"] for row in rows}
        by_ms: dict[str, dict[str, Any]] = {}
        for r in results:
            value = r["score"]
            if value is None and r["measure"] == "volume":
                value = max(r["populations"].values(), default=0)
            by_ms.setdefault(r["microsystem"], {})[r["measure"]] = value
        scores = Table(title=f"Results, period {latest} (- : nothing to measure)")
        scores.add_column("microsystem")
        for header in MEASURE_HEADERS.values():
            scores.add_column(header, justify="right")
        for ms, values in sorted(by_ms.items(), key=lambda kv: names.get(kv[0], kv[0])):
            scores.add_row(
                names.get(ms, ms.removeprefix("CareTeam/")),
                *(_fmt(values.get(m)) for m in MEASURE_HEADERS),
            )
        console.print(scores)
    read = derivation.get("encounters_read", 0)
    attributed = derivation.get("encounters_attributed", 0)
    console.print(
        f"periods: {len(periods)}  microsystem-periods: {len(rows)}  "
        f"encounters read: {read}, attributed: {attributed}, "
        f"not attributed: {derivation.get('unattributed', {})}"
    )
    findings = summary.get("findings", {})
    console.print(
        f"data-quality findings: {findings.get('total', 0)} {findings.get('by_kind', {})}"
    )
    if "files" in summary:
        console.print(f"written: {summary['files']}")


@app.command()
def run(
    source: Annotated[
        str | None, typer.Option(help="NDJSON directory or FHIR base URL (default: demo).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory (default ./out).")] = None,
    sink: Annotated[str | None, typer.Option(help="FHIR base URL to write results to.")] = None,
    start: Annotated[str | None, typer.Option(help="First day assessed (YYYY-MM-DD).")] = None,
    end: Annotated[
        str | None, typer.Option(help="Day after the last assessed (YYYY-MM-DD).")
    ] = None,
    period: Annotated[str, typer.Option(help="month, quarter or year.")] = "month",
    evidence: Annotated[bool, typer.Option(help="Add audit Lists to every population.")] = False,
    since: Annotated[
        str | None, typer.Option(help="Only resources updated after this instant.")
    ] = None,
    celery: Annotated[bool, typer.Option(help="Dispatch to Celery workers.")] = False,
    read: Annotated[
        str, typer.Option(help="How a server is read: bulk ($export), search, or auto.")
    ] = "auto",
    group: Annotated[
        str | None, typer.Option(help="Group id: a Group-level $export (implies bulk).")
    ] = None,
) -> None:
    """Derive microsystems, compute their measures, write CareTeam/Group/MeasureReport."""
    from fhir_microsystems.pipeline import RunSpec, run_in_process

    settings = Settings()
    _setup_logging(settings)
    out_dir = out or settings.out_dir
    location = source or settings.source or str(_demo_source(out_dir))
    if period not in ("month", "quarter", "year"):
        raise typer.BadParameter("period must be month, quarter or year")
    if read not in ("bulk", "search", "auto"):
        raise typer.BadParameter("read must be bulk, search or auto")
    try:
        location = _bulk_location(location, out_dir, settings, read, group, start, end, celery)
    except FhirMicrosystemsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2 if not exc.temporary else 75) from exc
    spec = RunSpec(
        source=location,
        out_dir=str(out_dir),
        sink_url=sink or settings.sink_url or None,
        start=start,
        end=end,
        period=period,  # type: ignore[arg-type]
        evidence=evidence,
        canonical_base=settings.canonical_base,
        since=since,
    )
    try:
        if celery:
            from workers.cli import dispatch_run

            summary = dispatch_run(spec)
        else:
            summary = run_in_process(spec, settings=settings)
    except FhirMicrosystemsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2 if not exc.temporary else 75) from exc
    print_summary(summary)


def _bulk_location(
    location: str,
    out_dir: Path,
    settings: Settings,
    read: str,
    group: str | None,
    start: str | None,
    end: str | None,
    celery: bool = False,
) -> str:
    """The source a run reads: a server URL (search) or its bulk export's directory.

    For ``--celery`` the export's status URL is kept in Redis, else in the directory.
    """
    from fhir_microsystems.bulk_runs import resolve_source

    state_for = None
    if celery:
        from workers.connections import make_client as redis_client
        from workers.export_state import RedisExportState

        def state_for(directory: Path) -> Any:
            client = redis_client(settings.redis_url)
            return RedisExportState(client, directory.name, settings.run_record_ttl_seconds)

    resolved = resolve_source(
        location,
        out_dir,
        settings,
        read="bulk" if group and read == "auto" else read,  # type: ignore[arg-type]
        group=group,
        start=start,
        end=end,
        on_poll=_show_poll,
        state_for=state_for,
    )
    if resolved.export is not None:
        _print_export(resolved.export)
    return resolved.location


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
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 2000,
    start: Annotated[str, typer.Option(help="First month (YYYY-MM-DD).")] = "2025-01-01",
    months: Annotated[int, typer.Option(help="Number of months simulated.")] = 12,
    noise: Annotated[float | None, typer.Option(help="Master noise level (0..1).")] = None,
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
        f"({total / max(summary.seconds, 1e-9):,.0f} resources/s): {dict(summary.counts)}"
    )


@app.command()
def load(
    source: Annotated[Path, typer.Option(help="NDJSON directory to load.")],
    sink: Annotated[str, typer.Option(help="FHIR base URL to load into.")],
    batch: Annotated[int, typer.Option(help="Resources per transaction bundle.")] = 200,
) -> None:
    """Load an NDJSON directory into a FHIR server (transactions, ids kept, idempotent)."""
    from rich.progress import Progress

    from fhir_microsystems.connect import make_client
    from fhir_microsystems.loading import LoadProgress, load_directory

    settings = Settings()
    _setup_logging(settings)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("loading", total=None)

        def progress(step: LoadProgress) -> None:
            bar.update(
                task,
                completed=step.total_loaded,
                description=f"{step.resource_type}: {step.loaded} loaded, {step.failed} failed",
            )

        with make_client(sink, settings) as client:
            report = load_directory(source, client, batch_size=batch, on_progress=progress)
    console.print(
        f"loaded {report.total} resources in {report.bundles} bundles: {dict(report.loaded)}"
    )
    if report.findings.total:
        console.print(f"skipped bad lines: {report.findings.summary()}")
    for failure in report.failures:
        err.print(
            f"[red]refused[/red] {failure.count} {failure.resource_type} ({failure.where}): "
            f"HTTP {failure.status} {failure.outcome}"
        )
    if report.failures:
        raise typer.Exit(1)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
