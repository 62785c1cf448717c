"""Encounter-based measures: lengths of stay, readmission, ED return, continuity, volume."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta

from fhir_microsystems._findings import Findings

from ._inputs import EncounterFact, MicrosystemContext, PatientFact, PatientTimelines
from ._result import Case, make_case

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
    return length_of_stay_of(attributed(ctx), ctx, cls, unit, limit, findings)


def length_of_stay_of(
    encounters: Iterable[EncounterFact],
    ctx: MicrosystemContext,
    cls: str,
    unit: timedelta,
    limit: timedelta,
    findings: Findings,
) -> list[Case]:
    """:func:`length_of_stay_cases` of ``encounters`` (the context's, attributed; any class)."""
    cases: list[Case] = []
    for enc in encounters:
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
            make_case(enc.key, enc.patient, frozenset(pops), value=value, encounter_class=enc.cls)
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
    return follow_up_of(
        attributed(ctx),
        ctx,
        timelines,
        patients,
        cls=cls,
        window=window,
        exclude_deaths=exclude_deaths,
    )


def follow_up_of(
    encounters: Iterable[EncounterFact],
    ctx: MicrosystemContext,
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
    *,
    cls: str,
    window: timedelta,
    exclude_deaths: bool,
) -> list[Case]:
    """:func:`follow_up_cases` of ``encounters`` (the context's, attributed; any class)."""
    cases: list[Case] = []
    for enc in encounters:
        if enc.cls != cls or enc.void or not ctx.in_period(enc.end):
            continue
        assert enc.end is not None
        pops = {"initial-population", "denominator"}
        patient = patients.get(enc.patient) if enc.patient else None
        if exclude_deaths and (enc.discharge_disposition == "exp" or _deceased_by(patient, enc)):
            pops.add("denominator-exclusion")
            cases.append(make_case(enc.key, enc.patient, frozenset(pops), encounter_class=cls))
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
            make_case(enc.key, enc.patient, frozenset(pops), encounter_class=cls, pending=pending)
        )
    return cases


def started_in_period(
    encounters: Iterable[EncounterFact], ctx: MicrosystemContext
) -> list[EncounterFact]:
    """The counted ``encounters`` (attributed) that started in ``ctx``'s period."""
    return [enc for enc in encounters if not enc.void and ctx.in_period(enc.start)]


#: The encounter measures whose population is a set of encounters (coverage is reported
#: for these: encounters that qualify by the measure's rule vs. those counted in a report).
ENCOUNTER_MEASURES = (
    "volume",
    "ed-length-of-stay",
    "inpatient-length-of-stay",
    "readmission-30d",
    "ed-return-72h",
)


def qualifying_measures(enc: EncounterFact, start: datetime, end: datetime) -> tuple[str, ...]:
    """The :data:`ENCOUNTER_MEASURES` whose initial population ``enc`` belongs to over the
    assessed window ``[start, end)``, by each measure's own rule, whichever period it
    started in: volume by start in the window; lengths of stay (finished), readmission
    (IMP) and ED return (EMER) by end in the window. Only encounters starting in the window
    are assessed (one that started before it is outside the assessment)."""
    if enc.void or enc.start is None or not start <= enc.start < end:
        return ()
    found = ["volume"]
    if enc.end is not None and start <= enc.end < end:
        if enc.cls == "EMER":
            if enc.status == "finished":
                found.append("ed-length-of-stay")
            found.append("ed-return-72h")
        elif enc.cls == "IMP":
            if enc.status == "finished":
                found.append("inpatient-length-of-stay")
            found.append("readmission-30d")
    return tuple(found)


def primary_practitioner(enc: EncounterFact, members: frozenset[str]) -> str | None:
    """The first listed practitioner of ``enc`` who is a member of the microsystem."""
    return next((p for p in enc.practitioners if p in members), None)


def bice_boxerman(counts: Mapping[str, int]) -> float:
    """COC = (sum n_j^2 - N) / (N (N - 1)); requires N >= 2."""
    total = sum(counts.values())
    return (sum(n * n for n in counts.values()) - total) / (total * (total - 1))


_CONTINUITY_OBSERVED = frozenset(
    {"initial-population", "measure-population", "measure-observation"}
)
_INITIAL = frozenset({"initial-population"})


def continuity_cases(ctx: MicrosystemContext) -> list[Case]:
    """Cases (patients) of the continuity-of-care measure."""
    return continuity_of(started_in_period(attributed(ctx), ctx), ctx)


def continuity_of(started: Iterable[EncounterFact], ctx: MicrosystemContext) -> list[Case]:
    """:func:`continuity_cases` of the context's encounters ``started`` in the period."""
    members = ctx.members
    seen: dict[str, dict[str, int]] = {}  # plain dicts: a Counter each costs far more
    for enc in started:
        if enc.patient is None:
            continue
        counts = seen.get(enc.patient)
        if counts is None:
            counts = seen[enc.patient] = {}
        for practitioner in enc.practitioners:  # the primary practitioner, if any
            if practitioner in members:
                counts[practitioner] = counts.get(practitioner, 0) + 1
                break
    cases: list[Case] = []
    for patient, counts in seen.items():
        if sum(counts.values()) >= 2:
            cases.append(
                make_case(patient, patient, _CONTINUITY_OBSERVED, value=bice_boxerman(counts))
            )
        else:
            cases.append(make_case(patient, patient, _INITIAL))
    return cases


def volume_cases(ctx: MicrosystemContext) -> tuple[list[Case], list[Case]]:
    """Cases of the volume cohort: (encounters, distinct patients)."""
    return volume_of(started_in_period(attributed(ctx), ctx))


def volume_of(started: Iterable[EncounterFact]) -> tuple[list[Case], list[Case]]:
    """:func:`volume_cases` of the context's encounters ``started`` in the period."""
    encounters = [
        make_case(enc.key, enc.patient, _INITIAL, encounter_class=enc.cls) for enc in started
    ]
    patient_keys = sorted({c.patient for c in encounters if c.patient is not None})
    patients = [make_case(p, p, _INITIAL) for p in patient_keys]
    return encounters, patients


__all__ = [
    "ED_LOS_LIMIT",
    "ED_RETURN_WINDOW",
    "ENCOUNTER_MEASURES",
    "IP_LOS_LIMIT",
    "READMISSION_WINDOW",
    "attributed",
    "bice_boxerman",
    "continuity_cases",
    "continuity_of",
    "follow_up_cases",
    "follow_up_of",
    "length_of_stay_cases",
    "length_of_stay_of",
    "primary_practitioner",
    "qualifying_measures",
    "started_in_period",
    "volume_cases",
    "volume_of",
]
