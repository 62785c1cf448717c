"""What a derivation returns: microsystems per period, attributions, cohorts, records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from fhir_microsystems.periods import Period

from .config import DerivationConfig
from .records import EncounterRecord

Evidence = Literal["explicit", "inferred", "both"]
EventKind = Literal["join", "leave"]


@dataclass(frozen=True, slots=True)
class Discipline:
    """A clinician's discipline (PractitionerRole.code, else .specialty, else CareTeam role)."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Member:
    """One clinician's membership of one microsystem in one period.

    ``encounters`` counts the microsystem's period encounters the clinician took part in and
    ``encounter_share`` is that count over all of the microsystem's period encounters;
    ``core`` means both reach the configured thresholds. ``evidence`` says whether the
    membership comes from an explicit CareTeam, from encounters (inferred) or both.
    """

    practitioner: str
    core: bool
    discipline: Discipline | None
    first_seen: datetime | None
    last_seen: datetime | None
    encounters: int
    encounter_share: float
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    """A clinician joined a microsystem's core without having been a member before, or left
    it from the core; moving between core and occasional is not an event."""

    kind: EventKind
    practitioner: str


@dataclass(frozen=True)
class MicrosystemPeriod:
    """One clinical microsystem in one period.

    ``id`` persists across periods while the core membership mostly persists;
    ``organization`` is the Organization it sits in (its mesosystem), ``location`` the
    Location of most of its encounters. ``patients`` are the patients attributed to it;
    ``cohorts`` maps cohort code (see :mod:`.cohorts`) to patient keys. ``stability`` is the
    Jaccard index of the core memberships of this and the previous period (all members when
    a period has no core member; None when it did not exist in the previous period);
    ``split_from``/``merged_from`` name previous-period microsystems it came from.
    """

    id: str
    period: Period
    organization: str | None
    location: str | None
    name: str
    members: Mapping[str, Member]
    patients: frozenset[str]
    encounter_ids: frozenset[str]
    explicit_careteam: str | None
    stability: float | None
    events: tuple[MembershipEvent, ...]
    split_from: tuple[str, ...]
    merged_from: tuple[str, ...]
    first_period: str
    cohorts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The explicit CareTeam's designated lead in this period, when they are a member.
    lead: str | None = None
    #: Encounters attributed to this microsystem in an earlier period that end in this one:
    #: the measures by end of stay (lengths of stay, readmission, ED return) count them here.
    ending_ids: frozenset[str] = frozenset()
    #: True for a version that exists only because such an encounter ends in this period
    #: (no encounter of it started here): name and organisation are its latest version's,
    #: members those of them taking part in the ending encounters (occasional); it has no
    #: stability and identity matching skips it.
    continuation: bool = False

    @property
    def core_members(self) -> frozenset[str]:
        return frozenset(k for k, m in self.members.items() if m.core)

    @property
    def occasional_members(self) -> frozenset[str]:
        return frozenset(k for k, m in self.members.items() if not m.core)


@dataclass
class Derivation:
    """The result of :func:`~fhir_microsystems.derive.derive`.

    ``microsystems`` and ``encounter_attribution`` are keyed by period label.
    ``ending_attribution`` gives, per period, the encounters started earlier that count there
    by their end (some periods' microsystems are continuations made for them).
    ``unattributed`` counts, by reason, every encounter read that no microsystem got, so
    ``sum(len(a) for a in encounter_attribution.values()) + unattributed.total()`` equals
    the number of encounters read. ``encounters`` holds every compact record read (also
    those outside the periods, e.g. for readmission look-ahead).
    """

    periods: list[Period]
    microsystems: dict[str, list[MicrosystemPeriod]]
    encounter_attribution: dict[str, dict[str, str]]
    unattributed: Counter[str]
    encounters: dict[str, EncounterRecord]
    config: DerivationConfig
    stats: Counter[str] = field(default_factory=Counter)
    #: Per period label: encounter key -> microsystem id of the encounters that started in
    #: an earlier period and end in this one (see ``MicrosystemPeriod.ending_ids``).
    ending_attribution: dict[str, dict[str, str]] = field(default_factory=dict)

    def microsystem(self, period_label: str, microsystem_id: str) -> MicrosystemPeriod | None:
        """One microsystem-period, or None."""
        for item in self.microsystems.get(period_label, ()):
            if item.id == microsystem_id:
                return item
        return None

    def history(self, microsystem_id: str) -> list[MicrosystemPeriod]:
        """Every period's version of one microsystem, in period order."""
        out = []
        for period in self.periods:
            found = self.microsystem(period.label, microsystem_id)
            if found is not None:
                out.append(found)
        return out

    def cohorts(self, period_label: str) -> dict[str, Mapping[str, frozenset[str]]]:
        """Microsystem id -> cohort code -> patient keys, for one period."""
        return {m.id: m.cohorts for m in self.microsystems.get(period_label, ())}

    def primary_microsystem(self, period_label: str) -> dict[str, str]:
        """Practitioner -> their home microsystem in the period: one whose explicit CareTeam
        lists them and where they worked, else where they are core, else where they took the
        largest share of the encounters (ties: lowest id)."""
        best: dict[str, tuple[bool, bool, float, str]] = {}
        for item in self.microsystems.get(period_label, ()):
            for key, member in item.members.items():
                rank = (member.evidence == "both", member.core, member.encounter_share, item.id)
                current = best.get(key)
                if (
                    current is None
                    or rank[:3] > current[:3]
                    or (rank[:3] == current[:3] and rank[3] < current[3])
                ):
                    best[key] = rank
        return {key: rank[3] for key, rank in sorted(best.items())}

    @property
    def encounters_attributed(self) -> int:
        return sum(len(a) for a in self.encounter_attribution.values())


__all__ = [
    "Derivation",
    "Discipline",
    "EventKind",
    "Evidence",
    "Member",
    "MembershipEvent",
    "MicrosystemPeriod",
]
