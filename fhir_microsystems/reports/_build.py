"""Summary MeasureReports (DEQM conventions) of measure results, validated before return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir_microsystems.measures import (
    DEFAULT_CANONICAL_BASE,
    MEASURE_VERSION,
    GroupDefinition,
    GroupResult,
    MeasureDefinition,
    MeasureResult,
    MicrosystemContext,
    PopulationCount,
    measure_definition,
)
from fhir_microsystems.measures._resource import (
    IMPROVEMENT,
    POPULATION,
    UCUM,
    coding,
    stratifier_concept,
)

from ._common import extension_url, instant, report_identity, rounded
from ._evidence import evidence_list
from ._narrative import result_sentences, xhtml_div
from ._validate import validate_measure_report

GENDER = "http://hl7.org/fhir/administrative-gender"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _score(defn: MeasureDefinition, score: float | None) -> dict[str, Any] | None:
    if score is None:
        return None
    quantity: dict[str, Any] = {"value": rounded(score, defn.precision)}
    if defn.unit:
        quantity |= {"unit": defn.unit, "system": UCUM, "code": defn.unit}
    return quantity


def _population(gdef: GroupDefinition, pop: PopulationCount, lists: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": gdef.element_id(pop.code),
        "code": coding(POPULATION, pop.code),
        "count": pop.count,
    }
    if lists:
        item["subjectResults"] = {"reference": f"#{gdef.element_id(pop.code)}"}
    return item


def _stratum_value(base: str, stratifier: str, value: str) -> dict[str, Any]:
    if stratifier == "gender" and value != "unknown":
        concept = coding(GENDER, value)
    elif stratifier == "encounter-class" and value != "unknown":
        concept = coding(ACT_CODE, value)
    else:
        concept = coding(f"{base}/CodeSystem/microsystem-{stratifier}", value)
    concept["text"] = value
    return concept


def _group(
    defn: MeasureDefinition, gdef: GroupDefinition, group: GroupResult, base: str, lists: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": gdef.id}
    if group.pending:
        out["extension"] = [
            {"url": extension_url(base, "pending-follow-up"), "valueInteger": len(group.pending)}
        ]
    out["population"] = [_population(gdef, p, lists) for p in group.populations]
    score = _score(defn, group.score)
    if score is not None:
        out["measureScore"] = score
    stratifiers = []
    for code in gdef.stratifiers:
        strata = []
        for stratum in (s for s in group.strata if s.stratifier == code):
            item: dict[str, Any] = {
                "value": _stratum_value(base, code, stratum.value),
                "population": [
                    {"code": coding(POPULATION, p.code), "count": p.count}
                    for p in stratum.populations
                ],
            }
            stratum_score = _score(defn, stratum.score)
            if stratum_score is not None:
                item["measureScore"] = stratum_score
            strata.append(item)
        entry: dict[str, Any] = {
            "id": gdef.element_id(code),
            "code": [stratifier_concept(base, code)],
        }
        if strata:
            entry["stratum"] = strata
        stratifiers.append(entry)
    if stratifiers:
        out["stratifier"] = stratifiers
    return out


def _evidence(
    defn: MeasureDefinition, gdef: GroupDefinition, group: GroupResult, base: str
) -> list[dict[str, Any]]:
    values = dict(group.observations)
    return [
        evidence_list(
            gdef.element_id(pop.code),
            f"{defn.id} {gdef.element_id(pop.code)}",
            pop.members,
            values=values if pop.code == "measure-observation" else None,
            value_url=extension_url(base, "measure-observation-value"),
            unit=defn.unit,
        )
        for pop in group.populations
    ]


def build_measure_report(
    result: MeasureResult,
    ctx: MicrosystemContext,
    *,
    generated_at: datetime,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    version: str = MEASURE_VERSION,
    evidence: bool = False,
) -> dict[str, Any]:
    """The validated summary MeasureReport of ``result`` for ``ctx``'s microsystem and period.

    ``evidence=True`` adds one contained List per population (``#<population id>``) listing
    the Encounters or Patients it counted. Raises ``InvalidReportError`` instead of
    returning an invalid report.
    """
    defn = measure_definition(result.measure)
    url = f"{canonical_base}/Measure/{defn.id}"
    report_id, identifier = report_identity(canonical_base, url, version, ctx.id, ctx.period)
    pairs = list(zip(defn.groups, result.groups, strict=True))
    report: dict[str, Any] = {"resourceType": "MeasureReport", "id": report_id}
    report["text"] = {
        "status": "generated",
        "div": xhtml_div(*result_sentences(defn, result, ctx.name, ctx.period, ctx.data_end)),
    }
    if evidence:
        report["contained"] = [
            item for gdef, group in pairs for item in _evidence(defn, gdef, group, canonical_base)
        ]
    report["extension"] = [
        {
            "url": extension_url(canonical_base, "microsystem"),
            "valueReference": {"reference": ctx.careteam_ref},
        }
    ]
    report["identifier"] = [identifier]
    report["status"] = "pending" if any(g.pending for g in result.groups) else "complete"
    report["type"] = "summary"
    report["measure"] = f"{url}|{version}"
    report["subject"] = {"reference": ctx.group_ref}
    report["date"] = instant(generated_at)
    if ctx.organization:
        report["reporter"] = {"reference": ctx.organization}
    report["period"] = {"start": instant(ctx.start), "end": instant(ctx.end)}
    if defn.improvement:
        report["improvementNotation"] = coding(IMPROVEMENT, defn.improvement)
    report["group"] = [_group(defn, g, r, canonical_base, evidence) for g, r in pairs]
    validate_measure_report(report, proportion=defn.scoring == "proportion")
    return report


__all__ = ["build_measure_report"]
