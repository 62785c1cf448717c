"""Measure results: populations (with their members), scores, observations and strata."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb

from ._tables import AGE_BAND


@dataclass(frozen=True, slots=True)
class PopulationCount:
    """A population: its code, its count and its sorted member keys (when they were asked
    for: a report's evidence lists them; a 10M-resource month has millions)."""

    code: str
    count: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PopulationSize:
    """A stratum's population: its code and count (members are kept for whole groups)."""

    code: str
    count: int


@dataclass(frozen=True, slots=True)
class Stratum:
    """One value of one stratifier, with its own populations and score."""

    stratifier: str
    value: str
    populations: tuple[PopulationSize, ...]
    score: float | None


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One Measure.group's result. ``observations`` are (key, value) pairs of a continuous
    variable; ``pending`` the members whose follow-up window the data cannot yet see."""

    id: str
    populations: tuple[PopulationCount, ...]
    score: float | None
    observations: tuple[tuple[str, float], ...] = ()
    strata: tuple[Stratum, ...] = ()
    pending: tuple[str, ...] = ()

    def population(self, code: str) -> PopulationCount:
        """The population ``code`` (empty if the group has no such population)."""
        for population in self.populations:
            if population.code == code:
                return population
        return PopulationCount(code, 0)


@dataclass(frozen=True, slots=True)
class MeasureResult:
    """The result of one measure for one microsystem and period."""

    measure: str
    groups: tuple[GroupResult, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def score(self) -> float | None:
        """The first group's score (the only group, except for the volume cohort)."""
        return self.groups[0].score


def age_band(birth_date: date | None, at: datetime) -> str:
    """The age band at ``at`` (negative ages count as 0); ``unknown`` without a birth date,
    by the measures' own SQL macro."""
    with duckdb.connect(":memory:") as con:
        con.execute(AGE_BAND)
        row = con.execute(
            "SELECT age_band(?::DATE, ?, ?, ?)", [birth_date, at.year, at.month, at.day]
        ).fetchone()
    assert row is not None
    return str(row[0])


__all__ = [
    "GroupResult",
    "MeasureResult",
    "PopulationCount",
    "PopulationSize",
    "Stratum",
    "age_band",
]
