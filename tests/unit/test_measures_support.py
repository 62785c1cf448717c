"""Builders for hand-built measure cases (no tests here; imported by the measure tests)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from fhir_microsystems.measures import (
    EncounterFact,
    MicrosystemContext,
    ObservationFact,
    PatientFact,
    Timelines,
)
from fhir_microsystems.periods import parse_fhir_datetime

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
LATE = datetime(2026, 1, 1, tzinfo=UTC)
MEMBERS = frozenset({"Practitioner/a", "Practitioner/b", "Practitioner/c"})


def at(text: str) -> datetime:
    """A FHIR dateTime as an aware UTC datetime."""
    return parse_fhir_datetime(text)


def enc(
    ident: str,
    start: str | None,
    end: str | None,
    *,
    cls: str | None = "EMER",
    patient: str | None = "Patient/p1",
    status: str = "finished",
    practitioners: tuple[str, ...] = ("Practitioner/a",),
    disposition: str | None = None,
) -> EncounterFact:
    return EncounterFact(
        key=f"Encounter/{ident}",
        patient=patient,
        cls=cls,
        status=status,
        start=at(start) if start else None,
        end=at(end) if end else None,
        practitioners=practitioners,
        discharge_disposition=disposition,
    )


def obs(
    ident: str,
    kind: str,
    when: str,
    *,
    patient: str = "Patient/p1",
    systolic: float | None = None,
    diastolic: float | None = None,
    value: float | None = None,
    unit: str | None = None,
    status: str = "final",
    coded: bool = True,
    complete: bool = True,
) -> ObservationFact:
    return ObservationFact(
        key=f"Observation/{ident}",
        patient=patient,
        kind=kind,
        status=status,
        effective=at(when),
        systolic=systolic,
        diastolic=diastolic,
        value=value,
        unit=unit if unit is not None else ("%" if kind == "hba1c" else None),
        coded=coded,
        complete=complete,
    )


def context(
    encounters: Iterable[EncounterFact] = (),
    patients: Iterable[str] = (),
    *,
    data_end: datetime = LATE,
    members: frozenset[str] = MEMBERS,
    core: frozenset[str] = frozenset({"Practitioner/a"}),
    stability: float | None = None,
    lead: bool = False,
    organization: str | None = "Organization/o1",
    period: tuple[datetime, datetime] = (START, END),
) -> MicrosystemContext:
    return MicrosystemContext(
        id="ms-1",
        careteam_ref="CareTeam/ct1",
        group_ref="Group/g1",
        organization=organization,
        name="Cardiology <Team> & Co",
        period=period,
        members=members,
        core_members=core,
        encounters=tuple(encounters),
        patients=frozenset(patients),
        data_end=data_end,
        stability=stability,
        has_lead_role=lead,
    )


def timelines(
    encounters: Iterable[EncounterFact] = (), observations: Iterable[ObservationFact] = ()
) -> Timelines:
    return Timelines(encounters, observations)


def person(
    key: str,
    *,
    gender: str | None = None,
    born: str | None = None,
    deceased_at: str | None = None,
) -> PatientFact:
    return PatientFact(
        key=key,
        gender=gender,
        birth_date=at(born).date() if born else None,
        deceased_at=at(deceased_at) if deceased_at else None,
        deceased=deceased_at is not None,
    )
