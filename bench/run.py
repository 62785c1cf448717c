"""The benchmark driver: ``python -m bench [--quick]`` (what ``scripts/bench`` runs).

Generates its input with ``fhir_microsystems.synth.generate``, runs the five comparisons,
prints the results table (absolute figures beside ratios, median and range over repeats)
and writes it with notes, the machine and the profile to ``bench/results/``
(``latest.md`` for a full run of all comparisons, ``quick.md`` for ``--quick``, ``full.md``
for a partial full run). ``--huge`` runs only the ~10M-resource job against the ~1M one
(:mod:`bench.huge`, ``huge.md``; not in CI). Exit status 0 when every comparison ran (goals
met or not), 1 when one failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ._common import REPO, Row, log
from .huge import HUGE_PATIENTS
from .report import machine, notes, profile_tables, results_table

RESULTS = REPO / "bench" / "results"


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes and repeats of one benchmark run (patients: ~15 resources each over 12 months)."""

    name: str
    repeats: int
    large: int  # comparisons 1, 2 and the large side of 3
    small: int  # the small side of 3
    server: int  # comparisons 4 and 6
    celery: int  # comparison 5
    partitions: int  # Encounter and Observation files each, comparison 5
    sample: int  # resources per type model-validated in comparison 2 (0: all)
    page_size: int
    profile: int  # patients of the profiled run (comparison 1's job)
    profile_interval: float


FULL = Plan("full", 3, 65_000, 6_500, 3_300, 6_500, 8, 5_000, 200, 65_000, 0.005)
QUICK = Plan("quick", 1, 2_000, 700, 700, 700, 4, 1_000, 200, 700, 0.002)
COMPARISONS = ("1", "2", "3", "4", "5", "6", "7")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, one repeat (<1 min)")
    parser.add_argument("--repeats", type=int, help="repeats per comparison (default 3; quick 1)")
    parser.add_argument(
        "--only", default=",".join(COMPARISONS), help="comma-separated comparisons, e.g. 1,3"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the pyinstrument run")
    parser.add_argument(
        "--data", type=Path, help="keep generated inputs here and reuse them (default: temporary)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .md goes")
    parser.add_argument(
        "--huge",
        action="store_true",
        help="only the ~10M-resource job against the ~1M one (not in CI; about 12 GiB of"
        " disk, see bench/README.md)",
    )
    parser.add_argument(
        "--huge-patients",
        type=int,
        help=f"patients of the --huge hospital (default {HUGE_PATIENTS:,}; the baseline has a"
        " tenth of them)",
    )
    args = parser.parse_args(argv)
    if args.huge_patients is not None and (not args.huge or args.huge_patients < 10):
        parser.error("--huge-patients needs --huge and at least 10 patients")
    return args


def _attempt(rows: list[Row], key: str, title: str, make: Callable[[], list[Row]]) -> None:
    """Run one comparison; a failure becomes an error row (the others still run)."""
    try:
        rows.extend(make())
    except Exception as exc:
        traceback.print_exc()
        rows.append(Row(key, title, "", error=f"{type(exc).__name__}: {exc}"))


def run(args: argparse.Namespace) -> int:
    if args.huge:  # before the imports below: a child's ru_maxrss starts at the driver's RSS
        return run_huge(args)
    from . import assessment, data
    from .bulk_pull import compare_bulk_pull
    from .celery_scale import compare_celery
    from .server_pull import compare_server_pull

    plan = QUICK if args.quick else FULL
    if args.repeats:
        plan = replace(plan, repeats=args.repeats)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = only - set(COMPARISONS)
    if unknown:
        raise SystemExit(f"unknown comparisons: {', '.join(sorted(unknown))}")
    load_before = os.getloadavg()
    began = time.perf_counter()
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="fhirms-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    profile: dict[str, Any] | None = None
    results_dir: Path = args.results
    try:
        if only & {"1", "2"}:

            def one_two() -> list[Row]:
                large = data.hospital(data_dir, plan.large)
                made = assessment.compare_floor_and_models(large, plan.repeats, plan.sample)
                return [r for r in made if r.key in only]

            _attempt(rows, "1", "End-to-end NDJSON assessment (and 2)", one_two)
        if "3" in only:
            _attempt(
                rows,
                "3",
                "Peak RSS",
                lambda: [
                    assessment.compare_memory(
                        data.hospital(data_dir, plan.small),
                        data.hospital(data_dir, plan.large),
                        plan.repeats,
                    )
                ],
            )
        if "4" in only:
            _attempt(
                rows,
                "4",
                "Pull from the FHIR test server",
                lambda: [
                    compare_server_pull(
                        data.hospital(data_dir, plan.server), plan.repeats, plan.page_size
                    )
                ],
            )
        if "5" in only:
            _attempt(
                rows,
                "5",
                "run --celery, 1 vs 2 workers",
                lambda: [
                    compare_celery(
                        data.hospital(data_dir, plan.celery), plan.partitions, plan.repeats
                    )
                ],
            )
        if "6" in only:
            from .dashboard import compare_dashboard

            _attempt(
                rows,
                "6",
                "Dashboard after the run",
                lambda: [compare_dashboard(data.hospital(data_dir, plan.large), plan.repeats)],
            )
        if "7" in only:
            _attempt(
                rows,
                "7",
                "$export vs paged search",
                lambda: compare_bulk_pull(
                    data.hospital(data_dir, plan.server), plan.repeats, plan.page_size
                ),
            )
        if "1" in only and not args.no_profile:
            try:
                profile = assessment.profile(
                    data.hospital(data_dir, plan.profile),
                    results_dir,
                    plan.profile_interval,
                    f"profile-{plan.name}",
                )
            except Exception as exc:
                traceback.print_exc()
                rows.append(Row("P", "pyinstrument profile", "", error=f"{exc}"))
    finally:
        if args.data is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    elapsed = time.perf_counter() - began
    full_run = plan.name == "full" and only == set(COMPARISONS)
    name = "latest.md" if full_run else f"{plan.name}.md"
    return _finish(args, plan, rows, profile, load_before, elapsed, name)


def run_huge(args: argparse.Namespace) -> int:
    """``--huge``: the huge job against a baseline a tenth its size; ``huge.md``."""
    from .huge import compare_huge

    patients = args.huge_patients or HUGE_PATIENTS
    plan = Plan("huge", args.repeats or 1, patients, patients // 10, 0, 0, 0, 0, 0, 0, 0)
    load_before = os.getloadavg()
    began = time.perf_counter()
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="fhirms-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    try:
        _attempt(
            rows,
            "H1",
            "Huge end-to-end job",
            lambda: compare_huge(data_dir, patients, plan.repeats),
        )
    finally:
        if args.data is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    elapsed = time.perf_counter() - began
    return _finish(args, plan, rows, None, load_before, elapsed, "huge.md")


def _finish(
    args: argparse.Namespace,
    plan: Plan,
    rows: list[Row],
    profile: dict[str, Any] | None,
    load_before: tuple[float, ...],
    elapsed: float,
    name: str,
) -> int:
    """Write the report ``name`` to the results folder, print the table; the exit status."""
    document = _document(args, plan, rows, profile, load_before, elapsed)
    results_dir: Path = args.results
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / name).write_text(document)
    print(results_table(rows))
    written = results_dir / name
    shown = written.relative_to(REPO) if written.is_relative_to(REPO) else written
    print(f"\n(full report: {shown})")
    failed = [row.key for row in rows if row.error is not None]
    if failed:
        log(f"FAILED comparisons: {', '.join(failed)}")
        return 1
    log(f"done in {elapsed:.0f} s")
    return 0


def _document(
    args: argparse.Namespace,
    plan: Plan,
    rows: list[Row],
    profile: dict[str, Any] | None,
    load_before: tuple[float, ...],
    elapsed: float,
) -> str:
    command = "scripts/bench" + (" --quick" if args.quick else "")
    if args.huge:
        command += " --huge"
        if args.huge_patients:
            command += f" --huge-patients {args.huge_patients}"
    elif args.only != ",".join(COMPARISONS):
        command += f" --only {args.only}"
    parts = [
        f"# fhir-microsystems benchmark ({plan.name})",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" {elapsed / 60:.1f} min. Each figure is the median over {plan.repeats}"
        " repeat(s) with the [min-max] range; ratios are taken per repeat. Machines are noisy:"
        " the ratios are what count.",
        "",
        results_table(rows),
        "",
        notes(rows),
        "",
        "## Machine",
        "",
        machine(load_before),
    ]
    if profile is not None:
        parts += ["", "## Profile of comparison 1", "", profile_tables(profile)]
        stem = profile["stem"]
        parts += ["", f"Full call trees: `{stem}.txt` and `{stem}.html` next to this file."]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        return _child(argv[1:])
    return run(_parse(argv))


def _child(argv: list[str]) -> int:
    """Internal: one measurement in a fresh process; prints its result as one JSON line."""
    import orjson

    from . import assessment, huge

    kinds: dict[str, Callable[..., dict[str, Any]]] = {
        "assess": assessment.child_assess,
        "memory": assessment.child_memory,
        "profile": assessment.child_profile,
        "generate": huge.child_generate,
    }
    kind, *rest = argv
    result = kinds[kind](*rest)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


__all__ = ["FULL", "QUICK", "Plan", "main", "run", "run_huge"]
