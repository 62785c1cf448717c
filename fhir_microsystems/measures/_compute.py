"""Compute every measure for one microsystem and period."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from fhir_microsystems._findings import Findings

from ._catalog import MEASURES, MeasureDefinition
from ._clinical import bp_control_cases, hba1c_cases
from ._encounters import (
    ED_LOS_LIMIT,
    ED_RETURN_WINDOW,
    IP_LOS_LIMIT,
    READMISSION_WINDOW,
    continuity_cases,
    follow_up_cases,
    length_of_stay_cases,
    volume_cases,
)
from ._inputs import MicrosystemContext, PatientFact, PatientTimelines
from ._result import Case, MeasureResult, aggregate


def _cases(
    definition: MeasureDefinition,
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    findings: Findings,
) -> list[list[Case]]:
    match definition.id:
        case "ed-length-of-stay":
            return [length_of_stay_cases(ctx, "EMER", timedelta(minutes=1), ED_LOS_LIMIT, findings)]
        case "inpatient-length-of-stay":
            return [length_of_stay_cases(ctx, "IMP", timedelta(days=1), IP_LOS_LIMIT, findings)]
        case "readmission-30d":
            return [
                follow_up_cases(
                    ctx,
                    timelines,
                    patients,
                    cls="IMP",
                    window=READMISSION_WINDOW,
                    exclude_deaths=True,
                )
            ]
        case "ed-return-72h":
            return [
                follow_up_cases(
                    ctx,
                    timelines,
                    patients,
                    cls="EMER",
                    window=ED_RETURN_WINDOW,
                    exclude_deaths=False,
                )
            ]
        case "bp-control":
            return [bp_control_cases(ctx, timelines)]
        case "hba1c-poor-control":
            return [hba1c_cases(ctx, timelines)]
        case "continuity-of-care":
            return [continuity_cases(ctx)]
        case "volume":
            return list(volume_cases(ctx))
    raise KeyError(definition.id)  # pragma: no cover - the catalog and this match agree


def compute_measure(
    definition: MeasureDefinition,
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> MeasureResult:
    """The result of one measure for ``ctx``."""
    groups = tuple(
        aggregate(definition, group, cases, patients, ctx.start)
        for group, cases in zip(
            definition.groups,
            _cases(definition, ctx, timelines, patients, findings),
            strict=True,
        )
    )
    return MeasureResult(definition.id, groups)


def compute_measures(
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> list[MeasureResult]:
    """One :class:`MeasureResult` per shipped measure, in catalog order."""
    return [compute_measure(d, ctx, timelines, patients, findings=findings) for d in MEASURES]


__all__ = ["compute_measure", "compute_measures"]
