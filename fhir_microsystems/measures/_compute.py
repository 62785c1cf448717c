"""Compute every measure of a batch of contexts: the measures' SQL over one fact database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir_microsystems._findings import Findings

from ._catalog import GroupDefinition, MeasureDefinition
from ._inputs import MicrosystemContext, PatientFact, PatientTimelines
from ._measure import Measure
from ._registry import REGISTRY, SHIPPED
from ._result import GroupResult, MeasureResult, PopulationCount, PopulationSize, Stratum
from ._sql import CODES, MEMBERS, NO_MEMBERS, STRATA, stacked
from ._tables import FactTables, connect, fact_tables, release

_COLUMN = {code: n for n, code in enumerate(CODES)}


def _kind(definition: MeasureDefinition) -> str:
    if definition.scoring == "continuous-variable":
        return definition.aggregate or "median"
    return definition.scoring


def _group(
    group: GroupDefinition,
    whole: tuple[Any, ...] | None,
    members: tuple[Any, ...] | None,
    strata: list[tuple[Any, ...]],
) -> GroupResult:
    codes = group.codes
    if whole is None or members is None:  # no cases at all
        return GroupResult(group.id, tuple(PopulationCount(c, 0) for c in codes), None)
    order = {name: n for n, name in enumerate(group.stratifiers)}
    rest = 2 + len(CODES)
    return GroupResult(
        id=group.id,
        populations=tuple(
            PopulationCount(c, whole[5 + _COLUMN[c]], tuple(members[2 + _COLUMN[c]])) for c in codes
        ),
        score=whole[4],
        observations=tuple((k, v) for k, v in members[rest]),
        strata=tuple(
            Stratum(
                row[2],
                row[3],
                tuple(PopulationSize(c, row[5 + _COLUMN[c]]) for c in codes),
                row[4],
            )
            for row in sorted(
                (r for r in strata if r[2] in order), key=lambda r: (order[r[2]], r[3])
            )
        ),
        pending=tuple(members[rest + 1]),
    )


def compute_batch(
    contexts: Sequence[MicrosystemContext],
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
    measures: Sequence[type[Measure]] = SHIPPED,
    tables: FactTables | None = None,
    members: bool = True,
) -> list[list[MeasureResult]]:
    """One :class:`MeasureResult` per measure (catalog order) for each of ``contexts``;
    each population lists its members only with ``members`` (a report's evidence).

    ``tables`` are the contexts' fact tables when they are built already (the pipeline's
    derive stage builds them, see :class:`~fhir_microsystems.measures.FactsBuilder`); then
    the contexts' encounters, the timelines' encounters and ``patients`` are not read.
    """
    groups = [
        (m, g, sql) for m in measures for g, sql in zip(m.definition.groups, m.cases, strict=True)
    ]
    if tables is None:
        tables = fact_tables(contexts, timelines, patients)
    con = connect(tables, timelines.observations)
    try:
        con.execute(stacked([sql for _, _, sql in groups]))
        con.execute(
            "CREATE OR REPLACE TABLE groups AS"
            " SELECT unnest(?::INTEGER[]) AS gid, unnest(?::VARCHAR[]) AS kind",
            [list(range(len(groups))), [_kind(m.definition) for m, _, _ in groups]],
        )
        whole: dict[tuple[int, int], tuple[Any, ...]] = {}
        strata: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        for row in con.execute(STRATA).fetchall():
            if row[2] is None:
                whole[(row[0], row[1])] = row
            else:
                strata.setdefault((row[0], row[1]), []).append(row)
        listed = con.execute(MEMBERS if members else NO_MEMBERS).fetchall()
        rows = {(r[0], r[1]): r for r in listed}
    finally:
        release(con)
    out: list[list[MeasureResult]] = []
    for number in range(len(contexts)):
        results: list[MeasureResult] = []
        gid = 0
        for measure in measures:
            built = []
            for group in measure.definition.groups:
                key = (number, gid)
                built.append(_group(group, whole.get(key), rows.get(key), strata.get(key, [])))
                if measure.finding is not None and key in rows:
                    field, message = measure.finding
                    for found in rows[key][4 + len(CODES)]:
                        findings.add("missing-field", found, field, message)
                gid += 1
            results.append(MeasureResult(measure.definition.id, tuple(built)))
        out.append(results)
    return out


def compute_measures(
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> list[MeasureResult]:
    """One :class:`MeasureResult` per shipped measure, in catalog order."""
    return compute_batch([ctx], timelines, patients, findings=findings)[0]


def compute_measure(
    definition: MeasureDefinition,
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> MeasureResult:
    """The result of one measure for ``ctx``."""
    measure = REGISTRY[definition.id]
    return compute_batch([ctx], timelines, patients, findings=findings, measures=[measure])[0][0]


__all__ = ["compute_batch", "compute_measure", "compute_measures"]
