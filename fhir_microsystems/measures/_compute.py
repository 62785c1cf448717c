"""Compute every measure for one microsystem and period."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from fhir_microsystems._findings import Findings

from ._catalog import MEASURES, MeasureDefinition
from ._clinical import Readings, bp_control_of, hba1c_of, patient_readings
from ._encounters import (
    ED_LOS_LIMIT,
    ED_RETURN_WINDOW,
    IP_LOS_LIMIT,
    READMISSION_WINDOW,
    attributed,
    continuity_of,
    follow_up_of,
    length_of_stay_of,
    started_in_period,
    volume_of,
)
from ._inputs import EncounterFact, MicrosystemContext, PatientFact, PatientTimelines
from ._result import Case, MeasureResult, StrataKeys, aggregate_with


class _Shared:
    """What several measures of one context read, worked out once (on first use)."""

    __slots__ = ("_by_class", "_ctx", "_readings", "_started", "_timelines")

    def __init__(self, ctx: MicrosystemContext, timelines: PatientTimelines) -> None:
        self._ctx = ctx
        self._timelines = timelines
        self._by_class: dict[str | None, list[EncounterFact]] | None = None
        self._started: list[EncounterFact] | None = None
        self._readings: list[Readings] | None = None

    def of_class(self, cls: str) -> list[EncounterFact]:
        """The attributed encounters of class ``cls``, in context order."""
        if self._by_class is None:
            self._by_class = {}
            for enc in attributed(self._ctx):
                self._by_class.setdefault(enc.cls, []).append(enc)
        return self._by_class.get(cls, [])

    def started(self) -> list[EncounterFact]:
        """The counted attributed encounters that started in the period."""
        if self._started is None:
            self._started = started_in_period(attributed(self._ctx), self._ctx)
        return self._started

    def readings(self) -> list[Readings]:
        if self._readings is None:
            self._readings = patient_readings(self._ctx, self._timelines)
        return self._readings


def _cases(
    definition: MeasureDefinition,
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    findings: Findings,
    shared: _Shared,
) -> list[list[Case]]:
    match definition.id:
        case "ed-length-of-stay":
            emer = shared.of_class("EMER")
            return [
                length_of_stay_of(emer, ctx, "EMER", timedelta(minutes=1), ED_LOS_LIMIT, findings)
            ]
        case "inpatient-length-of-stay":
            imp = shared.of_class("IMP")
            return [length_of_stay_of(imp, ctx, "IMP", timedelta(days=1), IP_LOS_LIMIT, findings)]
        case "readmission-30d":
            return [
                follow_up_of(
                    shared.of_class("IMP"),
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
                follow_up_of(
                    shared.of_class("EMER"),
                    ctx,
                    timelines,
                    patients,
                    cls="EMER",
                    window=ED_RETURN_WINDOW,
                    exclude_deaths=False,
                )
            ]
        case "bp-control":
            return [bp_control_of(shared.readings())]
        case "hba1c-poor-control":
            return [hba1c_of(shared.readings())]
        case "continuity-of-care":
            return [continuity_of(shared.started(), ctx)]
        case "volume":
            return list(volume_of(shared.started()))
    raise KeyError(definition.id)  # pragma: no cover - the catalog and this match agree


def _compute(
    definition: MeasureDefinition,
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    findings: Findings,
    keys: StrataKeys,
    shared: _Shared,
) -> MeasureResult:
    groups = tuple(
        aggregate_with(definition, group, cases, keys)
        for group, cases in zip(
            definition.groups,
            _cases(definition, ctx, timelines, patients, findings, shared),
            strict=True,
        )
    )
    return MeasureResult(definition.id, groups)


def compute_measure(
    definition: MeasureDefinition,
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> MeasureResult:
    """The result of one measure for ``ctx``."""
    keys = StrataKeys(patients, ctx.start)
    shared = _Shared(ctx, timelines)
    return _compute(definition, ctx, timelines, patients, findings, keys, shared)


def compute_measures(
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    findings: Findings,
) -> list[MeasureResult]:
    """One :class:`MeasureResult` per shipped measure, in catalog order."""
    keys = StrataKeys(patients, ctx.start)  # shared: the same patients and period start
    shared = _Shared(ctx, timelines)
    return [_compute(d, ctx, timelines, patients, findings, keys, shared) for d in MEASURES]


__all__ = ["compute_measure", "compute_measures"]
