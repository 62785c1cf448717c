"""Observation-based measures of the patient group: blood pressure and HbA1c control."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ._inputs import RESULT_STATUSES, MicrosystemContext, ObservationFact, PatientTimelines
from ._result import Case

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


def bp_control_cases(ctx: MicrosystemContext, timelines: PatientTimelines) -> list[Case]:
    """Cases (group patients) of bp-control."""
    cases: list[Case] = []
    for patient in sorted(ctx.patients):
        pops = {"initial-population"}
        reading = latest_bp_reading(timelines.observations_of(patient), ctx)
        if reading is not None:
            pops.add("denominator")
            _, sbp, dbp = reading
            if sbp < BP_SYSTOLIC_LIMIT and dbp < BP_DIASTOLIC_LIMIT:
                pops.add("numerator")
        cases.append(Case(patient, patient, frozenset(pops)))
    return cases


def hba1c_cases(ctx: MicrosystemContext, timelines: PatientTimelines) -> list[Case]:
    """Cases (group patients) of hba1c-poor-control."""
    cases: list[Case] = []
    for patient in sorted(ctx.patients):
        pops = {"initial-population"}
        result = latest_hba1c(timelines.observations_of(patient), ctx)
        if result is not None:
            pops.add("denominator")
            if result[1] > HBA1C_POOR_LIMIT:
                pops.add("numerator")
        cases.append(Case(patient, patient, frozenset(pops)))
    return cases


__all__ = [
    "BP_DIASTOLIC_LIMIT",
    "BP_SYSTOLIC_LIMIT",
    "HBA1C_POOR_LIMIT",
    "bp_control_cases",
    "hba1c_cases",
    "latest_bp_reading",
    "latest_hba1c",
]
