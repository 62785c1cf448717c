"""Encounter-based measures: lengths of stay, readmission, ED return, continuity, volume."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import timedelta

from fhir_microsystems._findings import Findings

from ._inputs import EncounterFact, MicrosystemContext, PatientFact, PatientTimelines
from ._result import Case

ED_LOS_LIMIT = timedelta(days=7)
IP_LOS_LIMIT = timedelta(days=365)
READMISSION_WINDOW = timedelta(days=30)
ED_RETURN_WINDOW = timedelta(hours=72)


def attributed(ctx: MicrosystemContext) -> Iterator[EncounterFact]:
    """The context's encounters, each key once (first occurrence wins)."""
    seen: set[str] = set()
    for encounter in ctx.encounters:
        if encounter.key not in seen:
            seen.add(encounter.key)
            yield encounter


def length_of_stay_cases(
    ctx: MicrosystemContext, cls: str, unit: timedelta, limit: timedelta, findings: Findings
) -> list[Case]:
    """Cases of the ED (EMER, minutes) or inpatient (IMP, days) length-of-stay measure."""
    cases: list[Case] = []
    for enc in attributed(ctx):
        if enc.cls != cls or enc.status != "finished" or not ctx.in_period(enc.end):
            continue
        pops = {"initial-population"}
        value: float | None = None
        if enc.start is None:
            findings.add("missing-field", enc.key, "Encounter.period.start", "finished, no start")
        else:
            pops.add("measure-population")
            assert enc.end is not None  # in_period checked it
            length = enc.end - enc.start
            if length < timedelta(0) or length > limit:
                pops.add("measure-population-exclusion")
            else:
                pops.add("measure-observation")
                value = length / unit
        cases.append(
            Case(enc.key, enc.patient, frozenset(pops), value=value, encounter_class=enc.cls)
        )
    return cases


def _deceased_by(patient: PatientFact | None, enc: EncounterFact) -> bool:
    return (
        patient is not None
        and patient.deceased_at is not None
        and enc.end is not None
        and patient.deceased_at <= enc.end
    )


def follow_up_cases(
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    cls: str,
    window: timedelta,
    exclude_deaths: bool,
) -> list[Case]:
    """Cases of readmission-30d (IMP, 30 d, deaths excluded) and ed-return-72h (EMER, 72 h)."""
    cases: list[Case] = []
    for enc in attributed(ctx):
        if enc.cls != cls or enc.void or not ctx.in_period(enc.end):
            continue
        assert enc.end is not None
        pops = {"initial-population", "denominator"}
        patient = patients.get(enc.patient) if enc.patient else None
        if exclude_deaths and (enc.discharge_disposition == "exp" or _deceased_by(patient, enc)):
            pops.add("denominator-exclusion")
            cases.append(Case(enc.key, enc.patient, frozenset(pops), encounter_class=cls))
            continue
        limit = enc.end + window
        followed = enc.patient is not None and any(
            later.key != enc.key
            and later.cls == cls
            and not later.void
            and later.start is not None
            and enc.end < later.start <= limit
            for later in timelines.encounters_of(enc.patient)
        )
        if followed:
            pops.add("numerator")
        pending = not followed and ctx.data_end < limit
        cases.append(
            Case(enc.key, enc.patient, frozenset(pops), encounter_class=cls, pending=pending)
        )
    return cases


def _started_in_period(ctx: MicrosystemContext) -> Iterator[EncounterFact]:
    for enc in attributed(ctx):
        if not enc.void and ctx.in_period(enc.start):
            yield enc


def primary_practitioner(enc: EncounterFact, members: frozenset[str]) -> str | None:
    """The first listed practitioner of ``enc`` who is a member of the microsystem."""
    return next((p for p in enc.practitioners if p in members), None)


def bice_boxerman(counts: Counter[str]) -> float:
    """COC = (sum n_j^2 - N) / (N (N - 1)); requires N >= 2."""
    total = sum(counts.values())
    return (sum(n * n for n in counts.values()) - total) / (total * (total - 1))


def continuity_cases(ctx: MicrosystemContext) -> list[Case]:
    """Cases (patients) of the continuity-of-care measure."""
    seen: dict[str, Counter[str]] = {}
    for enc in _started_in_period(ctx):
        if enc.patient is None:
            continue
        counts = seen.setdefault(enc.patient, Counter())
        primary = primary_practitioner(enc, ctx.members)
        if primary is not None:
            counts[primary] += 1
    cases: list[Case] = []
    for patient, counts in seen.items():
        if sum(counts.values()) >= 2:
            pops = frozenset({"initial-population", "measure-population", "measure-observation"})
            cases.append(Case(patient, patient, pops, value=bice_boxerman(counts)))
        else:
            cases.append(Case(patient, patient, frozenset({"initial-population"})))
    return cases


def volume_cases(ctx: MicrosystemContext) -> tuple[list[Case], list[Case]]:
    """Cases of the volume cohort: (encounters, distinct patients)."""
    encounters = [
        Case(enc.key, enc.patient, frozenset({"initial-population"}), encounter_class=enc.cls)
        for enc in _started_in_period(ctx)
    ]
    patient_keys = sorted({c.patient for c in encounters if c.patient is not None})
    patients = [Case(p, p, frozenset({"initial-population"})) for p in patient_keys]
    return encounters, patients


__all__ = [
    "ED_LOS_LIMIT",
    "ED_RETURN_WINDOW",
    "IP_LOS_LIMIT",
    "READMISSION_WINDOW",
    "attributed",
    "bice_boxerman",
    "continuity_cases",
    "follow_up_cases",
    "length_of_stay_cases",
    "primary_practitioner",
    "volume_cases",
]
