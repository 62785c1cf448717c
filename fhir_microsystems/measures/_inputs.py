"""The measures' input contract: compact, immutable facts (no resource bodies, no names).

The derivation builds these; the measures never see FHIR resources. Keys are canonical
``Type/id`` strings, times are aware UTC datetimes, periods are half-open ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Protocol

#: Encounter statuses that never count (the encounter did not happen or is an error).
VOID_ENCOUNTER_STATUSES = frozenset({"planned", "cancelled", "entered-in-error"})

#: Observation statuses the measures use (final results only).
RESULT_STATUSES = frozenset({"final", "amended", "corrected"})


@dataclass(frozen=True, slots=True)
class EncounterFact:
    """One Encounter. ``cls`` is the v3 ActCode (``EMER``, ``IMP``, ``AMB`` ...);
    ``practitioners`` are ``Practitioner/<id>`` keys, the primary (ATND/PPRF) one first;
    ``discharge_disposition`` is the hospitalization.dischargeDisposition code."""

    key: str
    patient: str | None
    cls: str | None
    status: str
    start: datetime | None
    end: datetime | None
    practitioners: tuple[str, ...] = ()
    discharge_disposition: str | None = None

    @property
    def void(self) -> bool:
        """True for planned, cancelled and entered-in-error encounters."""
        return self.status in VOID_ENCOUNTER_STATUSES


@dataclass(frozen=True, slots=True)
class PatientFact:
    """Administrative facts the measures stratify or exclude by."""

    key: str
    gender: str | None = None
    birth_date: date | None = None
    deceased_at: datetime | None = None
    deceased: bool = False


@dataclass(frozen=True, slots=True)
class ObservationFact:
    """One Observation reduced to what the measures need (see ``observations.py``).

    ``kind`` is ``bp-panel``, ``systolic``, ``diastolic``, ``hba1c``, ``pain``, ``experience``
    or ``other``. ``systolic``/``diastolic`` hold mm[Hg] values (panel components or the
    standalone value); ``value``/``unit`` the value of the other kinds. A value is None when
    it was missing or had an unexpected unit (a finding was recorded). ``coded`` says the
    Observation carries a LOINC or SNOMED CT code; ``complete`` that it has a recognised code
    and every value it needs, in the expected unit.
    """

    key: str
    patient: str
    kind: str
    status: str
    effective: datetime | None
    encounter: str | None = None
    systolic: float | None = None
    diastolic: float | None = None
    value: float | None = None
    unit: str | None = None
    coded: bool = True
    complete: bool = True


@dataclass(frozen=True, slots=True)
class MicrosystemContext:
    """One microsystem in one reporting period, with the encounters attributed to it.

    ``period`` is ``(start, end)``, aware UTC, half-open. ``members``/``core_members`` are
    Practitioner keys; ``patients`` its patient group. ``stability`` (0..1, or None) and
    ``has_lead_role`` feed the assessment; ``data_end`` is the latest instant the data covers.
    """

    id: str
    careteam_ref: str
    group_ref: str
    organization: str | None
    name: str
    period: tuple[datetime, datetime]
    members: frozenset[str]
    core_members: frozenset[str]
    encounters: tuple[EncounterFact, ...]
    patients: frozenset[str]
    data_end: datetime
    stability: float | None = None
    has_lead_role: bool = False

    @property
    def start(self) -> datetime:
        return self.period[0]

    @property
    def end(self) -> datetime:
        return self.period[1]

    def in_period(self, moment: datetime | None) -> bool:
        """Whether ``moment`` lies in ``[start, end)``."""
        return moment is not None and self.period[0] <= moment < self.period[1]


class PatientTimelines(Protocol):
    """All encounters and observations of a patient, whichever microsystem they belong to."""

    def encounters_of(self, patient: str) -> Sequence[EncounterFact]:
        """The patient's encounters sorted by start (encounters without a start last)."""
        ...

    def observations_of(self, patient: str) -> Sequence[ObservationFact]:
        """The patient's observations sorted by effective time (None last)."""
        ...


def _encounter_order(fact: EncounterFact) -> tuple[bool, datetime | None, str]:
    return (fact.start is None, fact.start, fact.key)


def _observation_order(fact: ObservationFact) -> tuple[bool, datetime | None, str]:
    return (fact.effective is None, fact.effective, fact.key)


_EFFECTIVE = attrgetter("effective")
#: :func:`_observation_order` of facts that all have an effective time, built in C.
_TIMED_ORDER = attrgetter("effective", "key")


class Timelines:
    """An in-memory :class:`PatientTimelines` built from facts (sorted lazily, on first read)."""

    __slots__ = ("_encounters", "_observations", "_unsorted_encounters", "_unsorted_observations")

    def __init__(
        self,
        encounters: Iterable[EncounterFact] = (),
        observations: Iterable[ObservationFact] = (),
    ) -> None:
        self._encounters: dict[str, list[EncounterFact]] = {}
        self._observations: dict[str, list[ObservationFact]] = {}
        self._unsorted_encounters: set[str] = set()
        self._unsorted_observations: set[str] = set()
        for encounter in encounters:
            self.add_encounter(encounter)
        for observation in observations:
            self.add_observation(observation)

    def add_encounter(self, fact: EncounterFact) -> None:
        if fact.patient is not None:
            self._encounters.setdefault(fact.patient, []).append(fact)
            self._unsorted_encounters.add(fact.patient)

    def add_observation(self, fact: ObservationFact) -> None:
        self._observations.setdefault(fact.patient, []).append(fact)
        self._unsorted_observations.add(fact.patient)

    def encounters_of(self, patient: str) -> Sequence[EncounterFact]:
        facts = self._encounters.get(patient)
        if facts is None:
            return ()
        if patient in self._unsorted_encounters:
            facts.sort(key=_encounter_order)
            self._unsorted_encounters.discard(patient)
        return facts

    def observations_of(self, patient: str) -> Sequence[ObservationFact]:
        facts = self._observations.get(patient)
        if facts is None:
            return ()
        if patient in self._unsorted_observations:
            # The same order; without None times the tuples are made in C, and faster.
            timed = None not in map(_EFFECTIVE, facts)
            facts.sort(key=_TIMED_ORDER if timed else _observation_order)
            self._unsorted_observations.discard(patient)
        return facts


__all__ = [
    "RESULT_STATUSES",
    "VOID_ENCOUNTER_STATUSES",
    "EncounterFact",
    "MicrosystemContext",
    "ObservationFact",
    "PatientFact",
    "PatientTimelines",
    "Timelines",
]
