"""Observation-based measures of the patient group: blood pressure and HbA1c control."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ._inputs import RESULT_STATUSES, MicrosystemContext, ObservationFact, PatientTimelines
from ._result import Case, make_case

BP_SYSTOLIC_LIMIT = 140.0
BP_DIASTOLIC_LIMIT = 90.0
HBA1C_POOR_LIMIT = 9.0


def _usable(obs: ObservationFact, ctx: MicrosystemContext) -> bool:
    return obs.status in RESULT_STATUSES and ctx.in_period(obs.effective)


def latest_bp_reading(
    observations: Iterable[ObservationFact], ctx: MicrosystemContext
) -> tuple[datetime, float, float] | None:
    """The most recent reading in the period as (instant, systolic, diastolic).

    Systolic and diastolic values with the same effective instant (panel components or
    standalone Observations) pair into a reading; at the latest instant with a reading the
    lowest systolic and the lowest diastolic are used.
    """
    systolic: dict[datetime, float] = {}
    diastolic: dict[datetime, float] = {}
    for obs in observations:
        if obs.kind not in ("bp-panel", "systolic", "diastolic") or not _usable(obs, ctx):
            continue
        assert obs.effective is not None
        if obs.systolic is not None:
            systolic[obs.effective] = min(obs.systolic, systolic.get(obs.effective, obs.systolic))
        if obs.diastolic is not None:
            low = diastolic.get(obs.effective, obs.diastolic)
            diastolic[obs.effective] = min(obs.diastolic, low)
    instants = systolic.keys() & diastolic.keys()
    if not instants:
        return None
    latest = max(instants)
    return latest, systolic[latest], diastolic[latest]


def latest_hba1c(
    observations: Iterable[ObservationFact], ctx: MicrosystemContext
) -> tuple[datetime, float] | None:
    """The most recent HbA1c (%) in the period as (instant, value); lowest on ties."""
    best: tuple[datetime, float] | None = None
    for obs in observations:
        if obs.kind != "hba1c" or obs.value is None or obs.unit != "%" or not _usable(obs, ctx):
            continue
        assert obs.effective is not None
        if best is None or obs.effective > best[0]:
            best = (obs.effective, obs.value)
        elif obs.effective == best[0]:
            best = (best[0], min(best[1], obs.value))
    return best


#: A patient's latest blood-pressure reading and HbA1c in the period (either may be None).
Readings = tuple[str, tuple[datetime, float, float] | None, tuple[datetime, float] | None]

_BP_KINDS = frozenset({"bp-panel", "systolic", "diastolic"})


def _latest_both(
    observations: Iterable[ObservationFact], ctx: MicrosystemContext
) -> tuple[tuple[datetime, float, float] | None, tuple[datetime, float] | None]:
    """``(latest_bp_reading, latest_hba1c)`` of ``observations`` in one pass (the same
    rules as those two, which the tests hold this to)."""
    start, end = ctx.period
    systolic: dict[datetime, float] = {}
    diastolic: dict[datetime, float] = {}
    best: tuple[datetime, float] | None = None
    for obs in observations:
        effective = obs.effective
        if effective is None or not start <= effective < end or obs.status not in RESULT_STATUSES:
            continue
        kind = obs.kind
        if kind in _BP_KINDS:
            if obs.systolic is not None:
                systolic[effective] = min(obs.systolic, systolic.get(effective, obs.systolic))
            if obs.diastolic is not None:
                low = diastolic.get(effective, obs.diastolic)
                diastolic[effective] = min(obs.diastolic, low)
        elif kind == "hba1c" and obs.value is not None and obs.unit == "%":
            if best is None or effective > best[0]:
                best = (effective, obs.value)
            elif effective == best[0]:
                best = (best[0], min(best[1], obs.value))
    reading: tuple[datetime, float, float] | None = None
    if systolic and diastolic:
        instants = systolic.keys() & diastolic.keys()
        if instants:
            latest = max(instants)
            reading = latest, systolic[latest], diastolic[latest]
    return reading, best


def patient_readings(ctx: MicrosystemContext, timelines: PatientTimelines) -> list[Readings]:
    """The group patients (sorted) with their latest blood pressure and HbA1c."""
    return [
        (patient, *_latest_both(timelines.observations_of(patient), ctx))
        for patient in sorted(ctx.patients)
    ]


_INITIAL = frozenset({"initial-population"})
_DENOMINATOR = frozenset({"initial-population", "denominator"})
_NUMERATOR = frozenset({"initial-population", "denominator", "numerator"})


def bp_control_cases(ctx: MicrosystemContext, timelines: PatientTimelines) -> list[Case]:
    """Cases (group patients) of bp-control."""
    return bp_control_of(patient_readings(ctx, timelines))


def bp_control_of(readings: Iterable[Readings]) -> list[Case]:
    """:func:`bp_control_cases` of the group's :func:`patient_readings`."""
    cases: list[Case] = []
    for patient, reading, _ in readings:
        pops = _INITIAL
        if reading is not None:
            _, sbp, dbp = reading
            controlled = sbp < BP_SYSTOLIC_LIMIT and dbp < BP_DIASTOLIC_LIMIT
            pops = _NUMERATOR if controlled else _DENOMINATOR
        cases.append(make_case(patient, patient, pops))
    return cases


def hba1c_cases(ctx: MicrosystemContext, timelines: PatientTimelines) -> list[Case]:
    """Cases (group patients) of hba1c-poor-control."""
    return hba1c_of(patient_readings(ctx, timelines))


def hba1c_of(readings: Iterable[Readings]) -> list[Case]:
    """:func:`hba1c_cases` of the group's :func:`patient_readings`."""
    cases: list[Case] = []
    for patient, _, result in readings:
        pops = _INITIAL
        if result is not None:
            pops = _NUMERATOR if result[1] > HBA1C_POOR_LIMIT else _DENOMINATOR
        cases.append(make_case(patient, patient, pops))
    return cases


__all__ = [
    "BP_DIASTOLIC_LIMIT",
    "BP_SYSTOLIC_LIMIT",
    "HBA1C_POOR_LIMIT",
    "Readings",
    "bp_control_cases",
    "bp_control_of",
    "hba1c_cases",
    "hba1c_of",
    "latest_bp_reading",
    "latest_hba1c",
    "patient_readings",
]
