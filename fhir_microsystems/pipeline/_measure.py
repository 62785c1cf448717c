"""The measure stage: one period's measures and assessment, written to files or a server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from fhir_microsystems._findings import Findings
from fhir_microsystems._memory import releasing
from fhir_microsystems._settings import Settings
from fhir_microsystems.connect import make_client
from fhir_microsystems.measures import (
    FactTables,
    Timelines,
    compute_batch,
    encounter_counts,
    observation_table,
    observations_in,
)
from fhir_microsystems.periods import split_periods
from fhir_microsystems.reports import (
    OVERALL_RULE,
    InvalidReportError,
    StaffScore,
    assess_microsystem,
    build_assessment_report,
    build_measure_report,
    overall_score,
    rounded,
)
from fhir_microsystems.sinks import (
    put_all,
    safe_name,
    scope_code,
    write_part,
    write_raw_part,
)

from . import _codec
from ._columns import from_parquet
from ._common import (
    FINDINGS_KEPT,
)
from ._keys import store_key
from ._spec import RunSpec
from ._store import Store

#: The assessment's Measure id, and the decimals of its overall result in the summary.
ASSESSMENT_MEASURE, ASSESSMENT_PRECISION = "microsystem-assessment", 4


def _month_labels(period: tuple[datetime, datetime]) -> list[str]:
    return [p.label for p in split_periods(period[0], period[1], "month")]


@releasing
def measure(
    spec: RunSpec,
    partition: str,
    store: Store,
    run_id: str,
    *,
    generated_at: datetime | None = None,
    settings: Settings | None = None,
) -> dict[str, int]:
    """Compute every measure of one partition's microsystems and write their resources."""
    blob = store.get(store_key(run_id, "ms", partition))
    if blob is None:
        raise LookupError(f"no derivation stored for partition {partition!r} of run {run_id}")
    bundle = orjson.loads(blob)
    del blob
    tables = _fact_tables(store, run_id, partition)
    start, end = bundle["period"]
    period = (datetime.fromisoformat(start), datetime.fromisoformat(end))
    patients = set(tables.pat["key"].to_pylist())
    timelines = Timelines(observations=_period_observations(store, run_id, period, patients))
    findings = Findings(keep=FINDINGS_KEPT)
    when = generated_at or datetime.fromisoformat(bundle["data_end"])
    reports: list[dict[str, Any]] = []
    staff = {
        key: {code: StaffScore(**score) for code, score in scores.items()}
        for key, scores in bundle["staff"].items()
    }
    contexts = []
    for number in range(bundle["contexts"]):
        context_blob = store.get(store_key(run_id, "ms-context", partition, str(number)))
        if context_blob is None:
            raise LookupError(f"claim check of context {number} of {partition!r} is gone")
        contexts.append(_codec.context_from(orjson.loads(context_blob)))
    computed = compute_batch(
        contexts, timelines, {}, findings=findings, tables=tables, members=spec.evidence
    )
    counts = encounter_counts(tables)
    del tables
    for ctx, results, counted in zip(contexts, computed, counts, strict=True):
        assessment = assess_microsystem(
            ctx, results, timelines, staff=staff.get(ctx.id), encounters=counted
        )
        builds: list[Callable[[], dict[str, Any]]] = [
            partial(
                build_measure_report,
                result,
                ctx,
                generated_at=when,
                canonical_base=spec.canonical_base,
                evidence=spec.evidence,
            )
            for result in results
        ]
        builds.append(
            partial(
                build_assessment_report,
                assessment,
                ctx,
                generated_at=when,
                canonical_base=spec.canonical_base,
            )
        )
        for build in builds:
            try:
                reports.append(build())
            except InvalidReportError as exc:  # never written; reported with the field
                findings.add("invalid-report", ctx.careteam_ref, exc.field, str(exc))
    resources = {
        rtype: store.get(store_key(run_id, "ms-resources", partition, rtype)) or b""
        for rtype in orjson.loads(
            store.get(store_key(run_id, "ms-resource-types", partition)) or b"[]"
        )
    }
    if spec.out_dir:
        write_part(Path(spec.out_dir), run_id, partition, {"MeasureReport": reports})
        for rtype, lines in resources.items():
            write_raw_part(Path(spec.out_dir), run_id, partition, rtype, lines)
    if spec.sink_url:
        outputs = {
            rtype: [orjson.loads(x) for x in b.splitlines()] for rtype, b in resources.items()
        }
        outputs["MeasureReport"] = reports
        with make_client(spec.sink_url, settings, role="sink") as client:
            plan = put_all(
                client,
                outputs,
                canonical_base=spec.canonical_base,
                scope=scope_code(spec.source, spec.canonical_base, partition),
                findings=findings,
                dry_run=spec.dry_run,
            )
        store.put(
            store_key(run_id, "sink-plan", safe_name(partition)), orjson.dumps(plan.to_dict())
        )
    store.put(
        store_key(run_id, "findings", "measure", safe_name(partition)), _codec.findings_to(findings)
    )
    store.put(
        store_key(run_id, "reports", safe_name(partition)), _codec.dumps(_report_rows(reports))
    )
    return {"reports": len(reports), "findings": findings.total}


def _fact_tables(store: Store, run_id: str, partition: str) -> FactTables:
    """The measures' fact tables the derive stage stored for ``partition``."""
    tables = {}
    for name in FactTables.NAMES:
        blob = store.get(store_key(run_id, "ms-facts", partition, name))
        if blob is None:
            raise LookupError(f"claim check of fact table {name} of {partition!r} is gone")
        tables[name] = from_parquet(blob)
    return FactTables(**tables)


def _period_observations(
    store: Store, run_id: str, period: tuple[datetime, datetime], patients: set[str]
) -> pa.Table:
    """The period's observations of ``patients``, from the extract's Parquet chunks."""
    partitions = orjson.loads(store.get(store_key(run_id, "plan")) or b"[]")
    tables = [observation_table(())]
    for partition in partitions:
        if not partition.startswith("observations:"):
            continue
        chunks = orjson.loads(store.get(store_key(run_id, "obs-chunks", partition)) or b"{}")
        for month in _month_labels(period):
            for number in range(chunks.get(month, 0)):
                blob = store.get(store_key(run_id, "obs", partition, month, str(number)))
                if blob is None:
                    raise LookupError(f"claim check of observations {partition} {month} is gone")
                tables.append(from_parquet(blob))
    return observations_in(pa.concat_tables(tables), patients, period)


def _report_rows(reports: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary rows of the reports. An assessment's ``score`` is its overall result
    (:data:`~fhir_microsystems.reports.OVERALL_RULE`, also named in ``score_rule``) and its
    dimensions are listed by code; a measure's is its first group's measureScore."""
    rows = []
    for report in reports:
        group = report["group"][0]
        score = group.get("measureScore", {}).get("value")
        measure_id = report["measure"].split("/Measure/")[-1].split("|")[0]
        row: dict[str, Any] = {
            "measure": measure_id,
            "microsystem": report["extension"][0]["valueReference"]["reference"],
            "period": report["period"]["start"][:7],
            "status": report["status"],
            "score": score,
            "populations": {
                p["code"]["coding"][0]["code"]: p.get("count", 0)
                for p in group.get("population", ())
            },
        }
        if measure_id == ASSESSMENT_MEASURE:
            dimensions = {g["id"]: g.get("measureScore", {}).get("value") for g in report["group"]}
            overall = overall_score(dimensions.values())
            row["score"] = rounded(overall, ASSESSMENT_PRECISION) if overall is not None else None
            row["score_rule"] = OVERALL_RULE
            row["dimensions"] = dimensions
        rows.append(row)
    return rows
