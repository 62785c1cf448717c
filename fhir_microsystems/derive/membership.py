"""Members of each candidate microsystem in one period: who, core or occasional, why.

Each period encounter first goes to the cluster holding most of its participants; a
clinician is a member of every cluster whose encounters they took part in (floaters are
members of several), and core where that is a regular share of the cluster's encounters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fhir_microsystems.sources import ReferenceIndex

from .careteams import ExplicitMember
from .config import DerivationConfig
from .joining import Cluster
from .model import Discipline, Evidence, Member
from .records import EncounterRecord


@dataclass
class Draft:
    """A microsystem of one period before it has an identity."""

    cluster: Cluster
    organization: str | None
    location: str | None
    members: dict[str, Member]
    encounters: int
    #: Explicit CareTeam members without encounters, left out (``include_idle_...``).
    idle_explicit: int = 0

    @property
    def core(self) -> frozenset[str]:
        return frozenset(k for k, m in self.members.items() if m.core)

    @property
    def basis(self) -> frozenset[str]:
        """What identity matching compares: the core members, else all members."""
        return self.core or frozenset(self.members)


@dataclass
class _Tally:
    encounters: int = 0
    per_person: Counter[str] = field(default_factory=Counter)
    first: dict[str, datetime] = field(default_factory=dict)
    last: dict[str, datetime] = field(default_factory=dict)
    contexts: Counter[str] = field(default_factory=Counter)
    locations: Counter[str] = field(default_factory=Counter)


def _plurality(tally: Counter[str]) -> str | None:
    if not tally:
        return None
    return min(tally.items(), key=lambda item: (-item[1], item[0]))[0]


def preliminary_cluster(
    rec: EncounterRecord, clusters: Sequence[Cluster], owner: dict[str, int]
) -> int | None:
    """The cluster with most of the encounter's participants (ties: same organisation,
    explicit team, lower index)."""
    votes: dict[int, int] = {}
    for person in rec.participants:
        number = owner.get(person)
        if number is not None:
            votes[number] = votes.get(number, 0) + 1
    if len(votes) <= 1:
        return next(iter(votes), None)
    return min(
        votes,
        key=lambda i: (
            -votes[i],
            clusters[i].context[0] != rec.context,
            clusters[i].team is None,
            i,
        ),
    )


def discipline_of(
    practitioner: str,
    organization: str | None,
    index: ReferenceIndex,
    explicit: ExplicitMember | None,
) -> Discipline | None:
    """Discipline from the clinician's PractitionerRole in (or nearest to) ``organization``."""
    roles = [r for r in index.roles_of(practitioner) if r.active] or index.roles_of(practitioner)

    def distance(role_org: str | None) -> int:
        if organization is None or role_org is None:
            return 3
        if role_org == organization:
            return 0
        if role_org in index.organization_ancestors(organization) or organization in (
            index.organization_ancestors(role_org)
        ):
            return 1
        return 2

    for role in sorted(roles, key=lambda r: (distance(r.organization), r.key)):
        coding = (role.codes or role.specialties or (None,))[0]
        if coding is not None:
            return Discipline(*coding)
    if explicit is not None and explicit.role is not None:
        return Discipline(*explicit.role)
    return None


def assemble(
    period_records: Sequence[EncounterRecord],
    clusters: Sequence[Cluster],
    index: ReferenceIndex,
    config: DerivationConfig,
) -> list[Draft]:
    """Member lists of the period's clusters (clusters left without members are dropped)."""
    owner = {p: i for i, c in enumerate(clusters) for p in c.practitioners}
    tallies = [_Tally() for _ in clusters]
    for rec in period_records:
        chosen = preliminary_cluster(rec, clusters, owner)
        if chosen is None:
            continue
        tally = tallies[chosen]
        tally.encounters += 1
        if rec.context:
            tally.contexts[rec.context] += 1
        if rec.location:
            tally.locations[rec.location] += 1
        per_person, first, last, start = tally.per_person, tally.first, tally.last, rec.start
        for person in rec.participants:
            per_person[person] += 1
            if start is not None:
                earliest = first.get(person)
                if earliest is None or start < earliest:
                    first[person] = start
                latest = last.get(person)
                if latest is None or start > latest:
                    last[person] = start
    drafts = []
    for cluster, tally in zip(clusters, tallies, strict=True):
        organization = (
            _plurality(tally.contexts)
            or (cluster.team.organization if cluster.team else None)
            or cluster.context[0]
        )
        members, idle = _members(cluster, tally, organization, index, config)
        if members:
            location = _plurality(tally.locations)
            drafts.append(Draft(cluster, organization, location, members, tally.encounters, idle))
    return drafts


def _members(
    cluster: Cluster,
    tally: _Tally,
    organization: str | None,
    index: ReferenceIndex,
    config: DerivationConfig,
) -> tuple[dict[str, Member], int]:
    active = {p for p, n in tally.per_person.items() if n >= config.member_min_encounters}
    explicit = set(cluster.explicit_members)
    idle = len(explicit - set(tally.per_person))
    if not config.include_idle_explicit_members:
        explicit &= set(tally.per_person)
    counts = sorted(tally.per_person.values())
    median = counts[len(counts) // 2] if counts else 0
    floor = max(config.core_min_encounters, config.core_min_relative * median)
    members: dict[str, Member] = {}
    for person in sorted(active | explicit):
        count = tally.per_person.get(person, 0)
        share = count / tally.encounters if tally.encounters else 0.0
        evidence: Evidence = (
            "both"
            if person in active and person in explicit
            else "explicit"
            if person in explicit
            else "inferred"
        )
        members[person] = Member(
            practitioner=person,
            core=count >= floor and share >= config.core_min_share,
            discipline=discipline_of(
                person, organization, index, cluster.explicit_members.get(person)
            ),
            first_seen=tally.first.get(person),
            last_seen=tally.last.get(person),
            encounters=count,
            encounter_share=share,
            evidence=evidence,
        )
    return members, idle if not config.include_idle_explicit_members else 0


__all__ = ["Draft", "assemble", "discipline_of", "preliminary_cluster"]
