"""Comparison 6: building the dashboard and spc.csv against the run that wrote the outputs."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ._common import Row, Samples, log, ratios


def compare_dashboard(hospital: Path, repeats: int) -> Row:
    """Row 6: ``run_in_process`` on ``hospital``, then the dashboard from its output folder."""
    from fhir_microsystems.dashboard import build_after_run
    from fhir_microsystems.pipeline import RunSpec, run_in_process

    runs: list[float] = []
    builds: list[float] = []
    pages = rows = 0
    for n in range(repeats):
        out = Path(tempfile.mkdtemp(prefix="fhirms-bench-dash-"))
        try:
            log(f"6: run {n + 1}/{repeats} on {hospital.name}")
            began = time.perf_counter()
            run_in_process(RunSpec(source=str(hospital), out_dir=str(out)))
            ran = time.perf_counter()
            site = build_after_run(out)
            builds.append(time.perf_counter() - ran)
            runs.append(ran - began)
            if site is not None:
                pages, rows = site.pages, site.csv_rows
        finally:
            shutil.rmtree(out, ignore_errors=True)
    row = Row(
        "6",
        "Dashboard and spc.csv after the run",
        "dashboard build",
        Samples.of(builds),
        "the run",
        Samples.of(runs),
        "build / run",
        ratios(builds, runs),
        "< 0.10x",
    )
    assert row.ratio is not None
    row.met = row.ratio.median < 0.10
    row.notes.append(
        f"`build_after_run` on the run's output folder: reads its NDJSON, analyses every "
        f"series, writes {pages} pages and {rows} spc.csv rows."
    )
    return row
