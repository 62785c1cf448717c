"""The measures' input contract: compact, immutable facts (no resource bodies, no names).

The derivation builds these; the measures never see FHIR resources. Keys are canonical
``Type/id`` strings, times are aware UTC datetimes, periods are half-open ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems.extract import FACT_SCHEMA

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
    and every value it needs, in the expected unit. The extract stage holds these as the
    rows of an Arrow table (:data:`~fhir_microsystems.extract.FACT_SCHEMA`); facts are how
    tests and callers write them by hand (:func:`observation_table`).
    """

    key: str
    patient: str
    kind: str
    status: str
    effective: datetime
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

    @property
    def observations(self) -> pa.Table:
        """The observations, as rows of :data:`~fhir_microsystems.extract.FACT_SCHEMA`."""
        ...


def _encounter_order(fact: EncounterFact) -> tuple[bool, datetime | None, str]:
    return (fact.start is None, fact.start, fact.key)


_FACT_COLUMNS = [f.name for f in FACT_SCHEMA if f.name != "month"]


def observation_table(facts: Iterable[ObservationFact]) -> pa.Table:
    """``facts`` as an Arrow table of the extract stage's columns."""
    rows = [
        {name: getattr(fact, name) for name in _FACT_COLUMNS}
        | {"month": f"{fact.effective.astimezone(UTC):%Y-%m}"}
        for fact in facts
    ]
    return pa.Table.from_pylist(rows, schema=FACT_SCHEMA)


def observation_facts_of(table: pa.Table) -> list[ObservationFact]:
    """The rows of an observation table as facts."""
    return [ObservationFact(**row) for row in table.select(_FACT_COLUMNS).to_pylist()]


@dataclass(frozen=True, slots=True)
class ObservationCounts:
    """A patient group's observations in a period: how many, and how many are coded with a
    standard system, complete, and the patients with a patient-experience response."""

    total: int
    coded: int
    complete: int
    experienced: frozenset[str]


@dataclass(frozen=True, slots=True)
class EncounterCounts:
    """A microsystem's encounters that count for the data indicators (not void, starting in
    its period): how many, how many with two or more distinct clinicians and with any, how
    many are finished and how many of those have an end."""

    total: int
    multi_clinician: int
    with_participants: int
    finished: int
    finished_with_end: int


def observations_in(
    table: pa.Table, patients: Iterable[str], period: tuple[datetime, datetime]
) -> pa.Table:
    """The rows of an observation table of ``patients`` in ``[start, end)`` of ``period``."""
    start, end = (pa.scalar(moment, pa.timestamp("us", tz="UTC")) for moment in period)
    mask = pc.and_(
        pc.is_in(table["patient"], pa.array(list(patients), pa.string())),
        pc.and_(pc.greater_equal(table["effective"], start), pc.less(table["effective"], end)),
    )
    return table.filter(mask)


def observation_counts(
    table: pa.Table, patients: Iterable[str], period: tuple[datetime, datetime]
) -> ObservationCounts:
    """:class:`ObservationCounts` of ``patients`` in ``[start, end)`` of ``period``."""
    rows = observations_in(table, patients, period)
    experienced = rows.filter(pc.equal(rows["kind"], "experience"))["patient"]
    return ObservationCounts(
        total=rows.num_rows,
        coded=int(pc.sum(rows["coded"]).as_py() or 0),
        complete=int(pc.sum(rows["complete"]).as_py() or 0),
        experienced=frozenset(experienced.to_pylist()),
    )


class Timelines:
    """An in-memory :class:`PatientTimelines`: encounter facts (sorted lazily, on first read)
    and an observation table."""

    __slots__ = ("_encounters", "_observations", "_unsorted_encounters")

    def __init__(
        self,
        encounters: Iterable[EncounterFact] = (),
        observations: Iterable[ObservationFact] | pa.Table = (),
    ) -> None:
        self._encounters: dict[str, list[EncounterFact]] = {}
        self._unsorted_encounters: set[str] = set()
        for encounter in encounters:
            self.add_encounter(encounter)
        self._observations = (
            observations if isinstance(observations, pa.Table) else observation_table(observations)
        )

    @property
    def observations(self) -> pa.Table:
        return self._observations

    def add_encounter(self, fact: EncounterFact) -> None:
        if fact.patient is not None:
            self._encounters.setdefault(fact.patient, []).append(fact)
            self._unsorted_encounters.add(fact.patient)

    def encounters_of(self, patient: str) -> Sequence[EncounterFact]:
        facts = self._encounters.get(patient)
        if facts is None:
            return ()
        if patient in self._unsorted_encounters:
            facts.sort(key=_encounter_order)
            self._unsorted_encounters.discard(patient)
        return facts


__all__ = [
    "RESULT_STATUSES",
    "VOID_ENCOUNTER_STATUSES",
    "EncounterCounts",
    "EncounterFact",
    "MicrosystemContext",
    "ObservationCounts",
    "ObservationFact",
    "PatientFact",
    "PatientTimelines",
    "Timelines",
    "observation_counts",
    "observation_facts_of",
    "observation_table",
    "observations_in",
]
