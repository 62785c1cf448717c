"""Comparisons 1-3 and the profile: the in-process NDJSON assessment.

1. ``run_in_process`` on a directory vs the floor of parsing its lines with orjson;
2. the same job vs a baseline that first model-validates every input resource with
   ``fhir.resources.R4B`` (timed on a sample per type and extrapolated linearly);
3. the peak RSS of the job at two sizes, each in a fresh process.

The measuring code runs in child processes (``python -m bench child ...``): one per repeat
for 1+2 (floor, validation sample and the job all in that one process), one per run for 3.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ._common import Row, Samples, log, ratios, run_child
from .data import resource_count, resource_files

if TYPE_CHECKING:
    from fhir_microsystems.pipeline import Progress

#: Repository-relative path prefix of the project's own code (for the profile tables).
PROJECT_DIRS = ("fhir_microsystems/", "workers/")
#: Up to the package of a library (site-packages) or stdlib module path.
_LIBRARY_PATH = re.compile(r"^.*/(?:site-packages|lib/python3\.\d+)/")
#: Frames of comprehensions repeat their caller's figure in the inclusive table.
_COMPREHENSIONS = ("<listcomp>", "<genexpr>", "<dictcomp>", "<setcomp>", "<lambda>")


# -- in the child -------------------------------------------------------------------------


#: Comparison 1's goal: the job within this many times the orjson floor (issue "A columnar
#: core"; it was 3x before).
JOB_VS_FLOOR_GOAL = 1.5
#: Comparison 2's goal: the job this many times faster than model-first parsing (was 10x).
MODEL_FIRST_GOAL = 40.0


def warm_page_cache(files: dict[str, list[Path]]) -> None:
    """Read every file once, untimed, so the floor and the job that follow both read from
    the page cache (a 1M hospital is about 1 GB, which the kernel may have evicted)."""
    for paths in files.values():
        for path in paths:
            with path.open("rb") as handle:
                while handle.read(1 << 24):
                    pass


def parse_floor(files: dict[str, list[Path]]) -> tuple[float, dict[str, int]]:
    """Read every file line by line and ``orjson.loads`` each line; seconds and lines per type."""
    loads = orjson.loads
    counts: dict[str, int] = {}
    began = time.perf_counter()
    for rtype, paths in files.items():
        n = 0
        for path in paths:
            with path.open("rb") as handle:
                for line in handle:
                    loads(line)
                    n += 1
        counts[rtype] = n
    return time.perf_counter() - began, counts


def model_validation_cost(
    files: dict[str, list[Path]], counts: dict[str, int], sample: int
) -> dict[str, Any]:
    """Time ``fhir.resources.R4B`` ``model_validate`` of parsed lines, per resource type.

    Up to ``sample`` resources per type (0: all), evenly spread over the type's files; the
    time of the whole type is extrapolated linearly from the sample's mean. One resource per
    type is validated untimed first (class set-up, as an importing baseline would pay once).
    """
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    estimate, sampled, invalid = 0.0, 0, 0
    for rtype, paths in files.items():
        total = counts.get(rtype, 0)
        if not total:
            continue
        model = get_fhir_model_class(rtype)
        step = max(1, math.ceil(total / sample)) if sample else 1
        spent, taken, index, warmed = 0.0, 0, 0, False
        for path in paths:
            with path.open("rb") as handle:
                for line in handle:
                    index += 1
                    if (index - 1) % step:
                        continue
                    data = orjson.loads(line)
                    if not warmed:
                        warmed = True
                        with contextlib.suppress(ValidationError):
                            model.model_validate(data)
                    began = time.perf_counter()
                    try:
                        model.model_validate(data)
                    except ValidationError:
                        invalid += 1
                    spent += time.perf_counter() - began
                    taken += 1
        estimate += spent / taken * total
        sampled += taken
        gc.collect()
    return {"seconds": estimate, "sampled": sampled, "invalid": invalid}


def run_job(
    directory: Path, out_dir: Path, progress: Progress | None = None
) -> tuple[float, dict[str, Any]]:
    """``run_in_process`` on ``directory``; seconds and the run summary."""
    from fhir_microsystems.pipeline import RunSpec, run_in_process

    began = time.perf_counter()
    summary = run_in_process(RunSpec(source=str(directory), out_dir=str(out_dir)), progress)
    return time.perf_counter() - began, summary


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check(summary: dict[str, Any], counts: dict[str, int]) -> dict[str, int]:
    done = summary["counts"]
    extracted = sum(counts.get(t, 0) for t in ("Encounter", "Condition", "Observation"))
    if done["resources"] != extracted:
        raise RuntimeError(
            f"the job extracted {done['resources']} Encounters, Conditions and Observations,"
            f" the files hold {extracted}"
        )
    if done["reports"] <= 0:
        raise RuntimeError("the job wrote no MeasureReports")
    return {"resources": done["resources"], "reports": done["reports"]}


def child_assess(directory: str, sample: str) -> dict[str, Any]:
    """Comparisons 1 and 2 in this one process: floor, validation sample, then the job."""
    path = Path(directory)
    files = resource_files(path)
    warm_page_cache(files)
    floor, counts = parse_floor(files)
    validation = model_validation_cost(files, counts, int(sample))
    gc.collect()
    warm_page_cache(files)
    ends: dict[str, float] = {}

    def progress(stage: str, done: int, total: int, resources: int) -> None:
        if done == total:
            ends[stage] = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="bench-out-") as out, _library_time() as inside:
        seconds, summary = run_job(path, Path(out), progress)
        finished = time.perf_counter()
    stages, last = {}, finished - seconds  # when run_job's own clock started
    for stage, end in ends.items():
        stages[stage], last = end - last, end
    stages["finalize"] = finished - last
    return {
        "floor": floor,
        "job": seconds,
        "stages": stages,
        "libraries": inside,
        "validation": validation,
        "lines": sum(counts.values()),
        **_check(summary, counts),
    }


@contextlib.contextmanager
def _library_time() -> Iterator[dict[str, float]]:
    """Seconds the job spends inside two libraries it cannot do without: igraph's Leiden
    community detection and the fhir.resources MeasureReport model its reports are validated
    with."""
    from fhir_microsystems.derive import network
    from fhir_microsystems.reports import _validate

    targets = [
        (network, "partition", "igraph Leiden"),
        (_validate, "_structure", "fhir.resources MeasureReport validation"),
    ]
    inside = {label: 0.0 for _, _, label in targets}
    originals = [getattr(module, name) for module, name, _ in targets]

    def timed(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                inside[label] += time.perf_counter() - began

        return call

    for (module, name, label), original in zip(targets, originals, strict=True):
        setattr(module, name, timed(original, label))
    try:
        yield inside
    finally:
        for (module, name, _), original in zip(targets, originals, strict=True):
            setattr(module, name, original)


def child_memory(directory: str) -> dict[str, Any]:
    """Comparison 3: only the job (the parent reads this process's ``ru_maxrss``)."""
    import fhir_microsystems.pipeline  # noqa: F401 (imports count in the first mark)

    high: dict[str, float] = {"imports": _max_rss_mib()}

    def progress(stage: str, done: int, total: int, resources: int) -> None:
        if done == total:  # the high-water mark of RSS once each stage is over
            high[stage] = _max_rss_mib()

    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        seconds, summary = run_job(Path(directory), Path(out), progress)
    high["finalize"] = _max_rss_mib()
    return {"job": seconds, "high_water": high, **summary["counts"]}


def child_profile(directory: str, results: str, interval: str, stem: str) -> dict[str, Any]:
    """Profile the job with pyinstrument; write ``STEM.txt``/``.html``; top functions."""
    from pyinstrument import Profiler

    out_dir = Path(results)
    profiler = Profiler(interval=float(interval))
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        profiler.start()
        run_job(Path(directory), Path(out))
        profiler.stop()
    session = profiler.last_session
    if session is None:
        raise RuntimeError("pyinstrument recorded nothing")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.txt").write_text(profiler.output_text(unicode=True, color=False))
    (out_dir / f"{stem}.html").write_text(profiler.output_html())
    return top_functions(session.root_frame(), session.duration)


def top_functions(root: Any, duration: float, limit: int = 15) -> dict[str, Any]:
    """Functions by self time (all code) and by inclusive time (the project's own code)."""
    own: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    stack: list[tuple[Any, frozenset[str]]] = [(root, frozenset())] if root else []
    while stack:
        frame, above = stack.pop()
        if frame.is_synthetic:
            continue
        key = _frame_name(frame)
        own[key] = own.get(key, 0.0) + frame.total_self_time
        if key not in above:  # recursion counts once
            inclusive[key] = inclusive.get(key, 0.0) + frame.time
        stack.extend((child, above | {key}) for child in frame.children)
    total = root.time if root else duration

    def top(table: dict[str, float], keep: Callable[[str], bool]) -> list[list[Any]]:
        rows = sorted(((t, k) for k, t in table.items() if keep(k)), reverse=True)[:limit]
        return [[k, t, t / total] for t, k in rows]

    def project(name: str) -> bool:
        return (
            any(f"({d}" in name for d in PROJECT_DIRS)
            and "pipeline/_inprocess" not in name
            and not name.startswith(_COMPREHENSIONS)
        )

    return {
        "seconds": total,
        "self": top(own, lambda _: True),
        "inclusive": top(inclusive, project),
    }


def _frame_name(frame: Any) -> str:
    path = _LIBRARY_PATH.sub("", str(frame.file_path or ""))
    for prefix in PROJECT_DIRS:
        if f"/{prefix}" in path:
            path = prefix + path.split(f"/{prefix}", 1)[1]
            break
    name = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
    return f"{name} ({path}:{frame.line_no})"


# -- in the driver ------------------------------------------------------------------------


def compare_floor_and_models(directory: Path, repeats: int, sample: int) -> list[Row]:
    """Rows 1 and 2, from ``repeats`` fresh child processes on the same data."""
    runs = []
    for n in range(repeats):
        log(f"1+2: assessment child {n + 1}/{repeats} on {directory.name}")
        runs.append(run_child("assess", str(directory), str(sample)).data)
    first = runs[0]
    resources = resource_count(directory)
    floor = [r["floor"] for r in runs]
    job = [r["job"] for r in runs]
    baseline = [r["job"] + r["validation"]["seconds"] for r in runs]
    row1 = Row(
        "1",
        f"End-to-end NDJSON assessment, {resources:,} resources",
        "run_in_process",
        Samples.of(job),
        "orjson parse floor",
        Samples.of(floor),
        "job / floor",
        ratios(job, floor),
        f"<= {JOB_VS_FLOOR_GOAL:g}x",
    )
    row1.met = row1.ratio is not None and row1.ratio.median <= JOB_VS_FLOOR_GOAL
    row1.notes.append(
        f"{first['lines']:,} lines parsed by the floor; the job read {first['resources']:,}"
        f" Encounters, Conditions and Observations and wrote {first['reports']:,} MeasureReports"
        f" ({_rate(resources, job)} resources/s vs {_rate(resources, floor)} for the floor)."
        f" Stages, median seconds (x the floor): {_parts_vs_floor(runs, floor, 'stages')}."
        f" Inside libraries: {_parts_vs_floor(runs, floor, 'libraries')}."
    )
    row2 = Row(
        "2",
        "Same job vs fhir.resources R4B model-first baseline",
        "run_in_process",
        Samples.of(job),
        "job + model_validate",
        Samples.of(baseline),
        "baseline / job",
        ratios(baseline, job),
        f">= {MODEL_FIRST_GOAL:g}x",
    )
    row2.met = row2.ratio is not None and row2.ratio.median >= MODEL_FIRST_GOAL
    sampled = first["validation"]["sampled"]
    validation = [r["validation"]["seconds"] for r in runs]
    how = (
        "every resource validated (no extrapolation)"
        if sampled >= resources
        else f"{sampled:,} of {resources:,} resources validated (evenly spread, up to {sample:,}"
        " per type), extrapolated linearly per type"
    )
    row2.notes.append(
        f"Baseline = the measured job + R4B `model_validate` of each input resource once"
        f" ({Samples.of(validation).cell()}); {how};"
        f" {first['validation']['invalid']} resources failed validation. Conservative: the job"
        " parses Patient twice, a validate-on-read baseline would pay for those twice."
    )
    return [row1, row2]


def _parts_vs_floor(runs: list[dict[str, Any]], floor: list[float], part: str) -> str:
    """Median seconds of each entry of ``run[part]`` (stages, libraries) and its median
    ratio to the floor of the same repeat."""
    cells = []
    for name in runs[0][part]:
        seconds = [r[part][name] for r in runs]
        cells.append(
            f"{name} {Samples.of(seconds).median:.1f} s ({ratios(seconds, floor).median:.2f}x)"
        )
    return ", ".join(cells)


def _rate(resources: int, seconds: list[float]) -> str:
    return f"{resources / Samples.of(seconds).median:,.0f}"


def compare_memory(small: Path, large: Path, repeats: int) -> Row:
    """Row 3: peak RSS of the job on ``small`` and ``large``, each run a fresh process."""
    peaks: dict[Path, list[float]] = {small: [], large: []}
    seconds: dict[Path, list[float]] = {small: [], large: []}
    marks: dict[Path, dict[str, float]] = {}
    for n in range(repeats):
        for directory in (small, large):
            log(f"3: memory child {n + 1}/{repeats} on {directory.name}")
            result = run_child("memory", str(directory))
            peaks[directory].append(result.peak_rss_mib)
            marks.setdefault(directory, result.data["high_water"])
            seconds[directory].append(result.data["job"])
    big, little = resource_count(large), resource_count(small)
    row = Row(
        "3",
        f"Peak RSS, {big:,} vs {little:,} resources",
        f"{_short(big)} run",
        Samples.of(peaks[large], "MiB"),
        f"{_short(little)} run",
        Samples.of(peaks[small], "MiB"),
        f"{_short(big)} / {_short(little)}",
        ratios(peaks[large], peaks[small]),
        "< 2x and < 1 GiB",
    )
    assert row.ratio is not None and row.ours is not None
    row.met = row.ratio.median < 2 and max(row.ours.values) < 1024
    row.notes.append(
        f"ru_maxrss of a fresh `python -m bench child memory` per run; job time"
        f" {Samples.of(seconds[large]).cell()} ({_short(big)}),"
        f" {Samples.of(seconds[small]).cell()} ({_short(little)}). RSS high-water mark"
        f" after imports and after each stage (first repeat): {_short(big)}"
        f" {_stages(marks[large])}; {_short(little)} {_stages(marks[small])}."
    )
    return row


def _stages(marks: dict[str, float]) -> str:
    return ", ".join(f"{stage} {mib:.0f}" for stage, mib in marks.items()) + " MiB"


def _short(resources: int) -> str:
    if resources >= 950_000:
        return f"{resources / 1e6:.1f}M"
    return f"{resources / 1000:.0f}k"


def profile(directory: Path, results: Path, interval: float, stem: str) -> dict[str, Any]:
    """The pyinstrument profile of comparison 1's job (its own child process)."""
    log(f"profile: pyinstrument child on {directory.name}")
    result = run_child("profile", str(directory), str(results), str(interval), stem).data
    return {**result, "resources": resource_count(directory), "interval": interval, "stem": stem}


__all__ = [
    "child_assess",
    "child_memory",
    "child_profile",
    "compare_floor_and_models",
    "compare_memory",
    "model_validation_cost",
    "parse_floor",
    "profile",
    "top_functions",
]
