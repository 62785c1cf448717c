"""Run every stage in this process (the embedded default): same functions the workers run."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir_microsystems._settings import Settings
from fhir_microsystems.sinks import clear_parts

from ._derive import derive
from ._extract import extract
from ._finalize import finalize
from ._measure import measure
from ._plan import plan
from ._spec import RunSpec
from ._store import DirStore

#: ``(stage, partitions done, partitions of the stage, resources read so far)``.
Progress = Callable[[str, int, int, int], None]


def run_in_process(
    spec: RunSpec,
    progress: Progress | None = None,
    *,
    run_id: str = "local",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Plan, extract, derive, measure and finalize in order; return the run summary.

    Intermediate data goes to a temporary directory store (memory stays bounded by the
    largest partition, not the input). Part files of an earlier in-process run into the same
    ``out_dir`` are removed first (such a run cannot be resumed), and this run's after.
    """
    report = progress or (lambda stage, done, total, resources: None)
    out = Path(spec.out_dir) if spec.out_dir else None
    if out is not None:
        clear_parts(out, run_id)
    with tempfile.TemporaryDirectory(prefix="fhirms-") as tmp:
        store = DirStore(Path(tmp))
        partitions = plan(spec, store, run_id)
        totals: dict[str, int] = {"resources": 0, "reports": 0}
        report("extract", 0, len(partitions), 0)
        for n, partition in enumerate(partitions, start=1):
            totals["resources"] += extract(spec, partition, store, run_id)["resources"]
            report("extract", n, len(partitions), totals["resources"])
        report("derive", 0, 1, totals["resources"])
        measure_partitions = derive(spec, partitions, store, run_id)
        report("derive", 1, 1, totals["resources"])
        for n, partition in enumerate(measure_partitions, start=1):
            totals["reports"] += measure(spec, partition, store, run_id, settings=settings)[
                "reports"
            ]
            report("measure", n, len(measure_partitions), totals["resources"])
        report("finalize", 0, 1, totals["resources"])
        summary = finalize(spec, partitions, measure_partitions, store, run_id)
        summary["counts"] = totals
    if out is not None:
        clear_parts(out, run_id)
    return summary
