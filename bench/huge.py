"""``scripts/bench --huge``: the end-to-end job on a ~10M-resource hospital (not in CI).

The hospital (650,000 patients, about 15 resources each over 12 months) and a baseline a
tenth its size (the ~1M hospital of comparison 1) are generated in fresh child processes
(their peak RSS shows the generator streams) unless ``--data`` already holds them. Then
the job runs once per repeat on each, baseline first, in its own fresh child process
(``python -m bench child memory``): wall time of ``run_in_process`` and the process's peak
RSS (``ru_maxrss``). Goals: peak RSS < 1.5 GiB, time <= 12x the baseline's.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path
from typing import Any

from ._common import Row, Samples, log, ratios, run_child
from .data import MARKER, hospital, hospital_dir, resource_count

#: Patients of the huge hospital (about 10M resources over 12 months).
HUGE_PATIENTS = 650_000
#: Its baseline is this many times smaller (the 1M job for the default size).
SCALE = 10
#: Goals: the huge job's peak RSS (MiB) and its time over the baseline's.
RSS_GOAL_MIB = 1.5 * 1024
TIME_GOAL = 12.0
#: Disk a generated patient takes (bytes; 1,151 MB for 65,000 patients), with a margin.
BYTES_PER_PATIENT = 20_000


def child_generate(data_dir: str, patients: str) -> dict[str, Any]:
    """In the child: generate the hospital (``bench.data.hospital``) and time it."""
    imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    directory = hospital(Path(data_dir), int(patients))
    seconds = time.perf_counter() - began
    return {
        "resources": resource_count(directory),
        "seconds": seconds,
        "bytes": sum(p.stat().st_size for p in directory.iterdir() if p.is_file()),
        "imports_mib": imports,
    }


def _generated(data_dir: Path, patients: int) -> tuple[Path, str]:
    """The hospital of ``patients`` (generated in a child unless kept) and a note on it."""
    directory = hospital_dir(data_dir, patients)
    if (directory / MARKER).is_file():
        return directory, f"{patients:,} patients: reused from the data directory"
    need = patients * BYTES_PER_PATIENT
    free = shutil.disk_usage(data_dir).free
    if free < need:
        raise RuntimeError(
            f"{patients:,} patients need about {need / 2**30:.1f} GiB of disk in the data"
            f" directory, {free / 2**30:.1f} GiB are free (use --data DIR elsewhere)"
        )
    log(f"huge: generating {patients:,} patients in a child process")
    result = run_child("generate", str(data_dir), str(patients))
    done = result.data
    return directory, (
        f"{patients:,} patients: {done['resources']:,} resources,"
        f" {done['bytes'] / 1e6:,.0f} MB, generated in {done['seconds']:.1f} s"
        f" ({done['resources'] / done['seconds']:,.0f} resources/s), peak RSS of the"
        f" generating child {result.peak_rss_mib:.0f} MiB ({done['imports_mib']:.0f} MiB"
        " after its imports)"
    )


def compare_huge(data_dir: Path, patients: int, repeats: int = 1) -> list[Row]:
    """Rows H1 (time against the baseline) and H2 (peak RSS)."""
    base_patients = max(1, patients // SCALE)
    base, base_note = _generated(data_dir, base_patients)
    huge, huge_note = _generated(data_dir, patients)
    jobs: dict[Path, list[dict[str, Any]]] = {base: [], huge: []}
    peaks: dict[Path, list[float]] = {base: [], huge: []}
    for n in range(repeats):
        for directory in (base, huge):
            log(f"huge: job child {n + 1}/{repeats} on {directory.name}")
            result = run_child("memory", str(directory))
            jobs[directory].append({**result.data, "wall": result.seconds})
            peaks[directory].append(result.peak_rss_mib)
    big, small = resource_count(huge), resource_count(base)
    seconds = {d: [j["job"] for j in runs] for d, runs in jobs.items()}
    time_row = Row(
        "H1",
        f"End-to-end NDJSON assessment, {big:,} vs {small:,} resources",
        f"{_size(big)} job",
        Samples.of(seconds[huge]),
        f"{_size(small)} job",
        Samples.of(seconds[base]),
        "huge / base",
        ratios(seconds[huge], seconds[base]),
        f"<= {TIME_GOAL:g}x",
    )
    assert time_row.ratio is not None
    time_row.met = time_row.ratio.median <= TIME_GOAL
    rss_row = Row(
        "H2",
        f"Peak RSS of the same jobs, {big:,} vs {small:,} resources",
        f"{_size(big)} job",
        Samples.of(peaks[huge], "MiB"),
        f"{_size(small)} job",
        Samples.of(peaks[base], "MiB"),
        "huge / base",
        ratios(peaks[huge], peaks[base]),
        f"< {RSS_GOAL_MIB / 1024:g} GiB",
    )
    rss_row.met = max(peaks[huge]) < RSS_GOAL_MIB
    first = {d: runs[0] for d, runs in jobs.items()}
    time_row.notes.append(
        f"Inputs: {base_note}; {huge_note}. Each job ran in a fresh"
        " `python -m bench child memory` (`run_in_process` into a temporary folder); the time"
        " is the job's wall time, the child's own (interpreter start and imports included) was"
        f" {first[base]['wall']:.1f} s ({_size(small)}) and {first[huge]['wall']:.1f} s"
        f" ({_size(big)}). The job extracted {first[huge]['resources']:,} Encounters,"
        f" Conditions and Observations and wrote {first[huge]['reports']:,} MeasureReports"
        f" ({_size(big)})."
    )
    rss_row.notes.append(
        f"ru_maxrss of each job's child (goal < {RSS_GOAL_MIB:.0f} MiB). RSS high-water mark"
        f" after imports and after each stage (first repeat): {_size(big)}"
        f" {_marks(first[huge]['high_water'])}; {_size(small)}"
        f" {_marks(first[base]['high_water'])}."
    )
    return [time_row, rss_row]


def _marks(marks: dict[str, float]) -> str:
    return ", ".join(f"{stage} {mib:.0f}" for stage, mib in marks.items()) + " MiB"


def _size(resources: int) -> str:
    if resources >= 950_000:
        return f"{resources / 1e6:.1f}M"
    return f"{resources / 1000:.0f}k" if resources >= 1000 else str(resources)


__all__ = ["HUGE_PATIENTS", "child_generate", "compare_huge"]
