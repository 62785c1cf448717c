"""What the dashboard reads from a run's outputs, as typed values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Stratum:
    """One stratum of a MeasureReport group (an age band, a gender, an encounter class...)."""

    stratifier: str
    value: str
    score: float | None
    numerator: int | None
    denominator: int | None


@dataclass(frozen=True, slots=True)
class Dimension:
    """One dimension of the microsystem assessment (a MeasureReport group)."""

    id: str
    display: str
    score: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """One MeasureReport: a measure's result for one microsystem and period."""

    measure: str  # the Measure's id, e.g. bp-control
    microsystem_id: str
    careteam: str  # CareTeam/<id> of that period
    start: str  # ISO instant, inclusive
    end: str  # ISO instant, exclusive
    pending: bool
    improvement: str | None  # increase | decrease
    score: float | None
    populations: Mapping[str, int]
    strata: tuple[Stratum, ...] = ()
    dimensions: tuple[Dimension, ...] = ()
    worklist: tuple[str, ...] = ()  # numerator members, only from evidence Lists

    @property
    def period(self) -> str:
        return self.start[:10]

    @property
    def numerator(self) -> int | None:
        return self.populations.get("numerator")

    @property
    def denominator(self) -> int | None:
        """The denominator after exclusions (what the score divides by)."""
        if "denominator" in self.populations:
            return self.populations["denominator"] - self.populations.get(
                "denominator-exclusion", 0
            )
        if "measure-population" in self.populations:
            return self.populations["measure-population"] - self.populations.get(
                "measure-population-exclusion", 0
            )
        return self.populations.get("initial-population")


@dataclass(frozen=True, slots=True)
class Member:
    """A CareTeam participant (a practitioner reference) and its role."""

    reference: str
    role: str
    core: bool


@dataclass(frozen=True, slots=True)
class Team:
    """One microsystem in one period (a CareTeam)."""

    microsystem_id: str
    period: str  # the period label of the CareTeam (e.g. 2025-01)
    name: str
    department: str
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class TeamChange:
    """The run's own account of a microsystem-period (summary.json): joins, leaves, stability."""

    joins: int | None
    leaves: int | None
    stability: float | None  # Jaccard index of the core members with the previous period


@dataclass(frozen=True, slots=True)
class Cohort:
    """A patient Group of a microsystem-period: its cohort code and size."""

    microsystem_id: str
    period: str
    cohort: str
    size: int


@dataclass(frozen=True, slots=True)
class Finding:
    """A data-quality finding of the run (findings.ndjson)."""

    kind: str
    where: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class RunData:
    """Everything the dashboard shows, read from an output folder or a FHIR server."""

    reports: tuple[Report, ...]
    teams: tuple[Team, ...]
    cohorts: tuple[Cohort, ...]
    findings: tuple[Finding, ...] = ()
    findings_by_kind: Mapping[str, int] = field(default_factory=dict)
    unattributed: Mapping[str, int] = field(default_factory=dict)
    encounters_read: int | None = None
    changes: Mapping[tuple[str, str], TeamChange] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # lines or resources the reader could not use
    source: str = ""
