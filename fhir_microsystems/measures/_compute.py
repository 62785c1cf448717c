"""Compute every measure of a batch of contexts: each measure's SQL over one fact database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir_microsystems._findings import Findings

from ._catalog import GroupDefinition, MeasureDefinition
from ._inputs import MicrosystemContext, PatientFact, PatientTimelines
from ._measure import Measure
from ._registry import REGISTRY, SHIPPED
from ._result import GroupResult, MeasureResult, PopulationCount, Stratum
from ._sql import MEDIAN, scoring_sql
from ._tables import connect


def _group_results(
    definition: MeasureDefinition, group: GroupDefinition, rows: list[tuple[Any, ...]], count: int
) -> tuple[list[GroupResult], list[list[str]]]:
    """One :class:`GroupResult` per context from the scoring query's ``rows``, and the keys
    of each context that need a finding."""
    codes = group.codes
    whole: dict[int, tuple[Any, ...]] = {}
    strata: dict[int, list[tuple[Any, ...]]] = {}
    for got in rows:
        if got[1] is None:
            whole[got[0]] = got
        else:
            strata.setdefault(got[0], []).append(got)
    order = {name: n for n, name in enumerate(group.stratifiers)}
    results: list[GroupResult] = []
    findings: list[list[str]] = []
    for number in range(count):
        row = whole.get(number)
        if row is None:  # no cases at all
            results.append(
                GroupResult(group.id, tuple(PopulationCount(c, ()) for c in codes), None)
            )
            findings.append([])
            continue
        populations = tuple(
            PopulationCount(code, tuple(row[4 + n])) for n, code in enumerate(codes)
        )
        extra = 4 + len(codes)
        found = sorted(strata.get(number, ()), key=lambda r: (order[r[1]], r[2]))
        results.append(
            GroupResult(
                id=group.id,
                populations=populations,
                score=row[3],
                observations=tuple((k, v) for k, v in row[extra]),
                strata=tuple(
                    Stratum(
                        r[1],
                        r[2],
                        tuple(
                            PopulationCount(code, tuple(r[4 + n])) for n, code in enumerate(codes)
                        ),
                        r[3],
                    )
                    for r in found
                ),
                pending=tuple(row[extra + 1]),
            )
        )
        findings.append(list(row[extra + 2]))
    return results, findings


def compute_batch(
    contexts: Sequence[MicrosystemContext],
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
    measures: Sequence[type[Measure]] | None = None,
) -> list[list[MeasureResult]]:
    """One :class:`MeasureResult` per measure (catalog order) for each of ``contexts``."""
    chosen = SHIPPED if measures is None else measures
    con = connect(contexts, timelines, patients)
    try:
        con.execute(MEDIAN)
        per_measure: list[list[MeasureResult]] = []
        notes: list[list[tuple[str, str, str]]] = [[] for _ in contexts]
        for measure in chosen:
            definition = measure.definition
            groups: list[list[GroupResult]] = []
            for group, cases in zip(definition.groups, measure.cases, strict=True):
                sql = scoring_sql(
                    definition,
                    group,
                    cases,
                    pending=measure.pending,
                    finding=measure.finding is not None,
                )
                rows = con.execute(sql).fetchall()
                results, keys = _group_results(definition, group, rows, len(contexts))
                groups.append(results)
                if measure.finding is not None:
                    field, message = measure.finding
                    for number, found in enumerate(keys):
                        notes[number].extend((key, field, message) for key in found)
            per_measure.append(
                [
                    MeasureResult(definition.id, tuple(g[n] for g in groups))
                    for n in range(len(contexts))
                ]
            )
    finally:
        con.close()
    for found_notes in notes:  # in context order, as the measures read them
        for key, field, message in found_notes:
            findings.add("missing-field", key, field, message)
    return [[results[n] for results in per_measure] for n in range(len(contexts))]


def compute_measures(
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> list[MeasureResult]:
    """One :class:`MeasureResult` per registered measure, in catalog order."""
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
