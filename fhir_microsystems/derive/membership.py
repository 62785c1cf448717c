"""Members of each candidate microsystem in one period: who, core or occasional, why.

Each period encounter first goes to the cluster holding most of its participants; a
clinician is a member of every cluster whose encounters they took part in (floaters are
members of several), and core where that is a regular share of the cluster's encounters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from fhir_microsystems.sources import ReferenceIndex

from ._db import STEPS, numbered, registered
from .careteams import ExplicitMember
from .config import DerivationConfig
from .joining import Cluster
from .model import Discipline, Evidence, Member
from .records import EncounterRows, moments


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
    per_person: dict[str, int] = field(default_factory=dict)
    first: dict[str, datetime] = field(default_factory=dict)
    last: dict[str, datetime] = field(default_factory=dict)
    context: str | None = None  # the plurality context of its encounters
    location: str | None = None  # and location


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
    period_rows: EncounterRows,
    clusters: Sequence[Cluster],
    index: ReferenceIndex,
    config: DerivationConfig,
) -> list[Draft]:
    """Member lists of the period's clusters (clusters left without members are dropped)."""
    tallies = _tallies(period_rows, clusters)
    drafts = []
    for cluster, tally in zip(clusters, tallies, strict=True):
        organization = (
            tally.context
            or (cluster.team.organization if cluster.team else None)
            or cluster.context[0]
        )
        members, idle = _members(cluster, tally, organization, index, config)
        if members:
            drafts.append(
                Draft(cluster, organization, tally.location, members, tally.encounters, idle)
            )
    return drafts


def _tallies(period_rows: EncounterRows, clusters: Sequence[Cluster]) -> list[_Tally]:
    """What each cluster's encounters add up to: each period encounter goes to the cluster
    with most of its participants (ties: of the encounter's organisation, with an explicit
    team, the lower index; see ``window.sql``)."""
    owner = {p: i for i, c in enumerate(clusters) for p in c.practitioners}
    tables = {
        "win": numbered(period_rows.table.select(["participants", "start", "context", "location"])),
        "owner": pa.table(
            {"person": list(owner), "cluster": pa.array(list(owner.values()), pa.int64())}
        ),
        "clusters": pa.table(
            {
                "cluster": pa.array(range(len(clusters)), pa.int64()),
                "org": pa.array([c.context[0] for c in clusters], pa.string()),
                "no_team": pa.array([c.team is None for c in clusters], pa.bool_()),
            }
        ),
    }
    tallies = [_Tally() for _ in clusters]
    with registered(**tables) as con:
        con.execute(STEPS["preliminary"])
        try:
            for number, encounters, context, location in con.execute(
                STEPS["cluster_tallies"]
            ).fetchall():
                tally = tallies[number]
                tally.encounters, tally.context, tally.location = encounters, context, location
            persons = con.sql(STEPS["member_tallies"]).to_arrow_table()
        finally:
            con.execute(STEPS["drop"])
    numbers, names, counts = (persons[name].to_pylist() for name in ("cluster", "person", "n"))
    firsts, lasts = moments(persons["first"]), moments(persons["last"])
    for number, person, count, first, last in zip(
        numbers, names, counts, firsts, lasts, strict=True
    ):
        tally = tallies[number]
        tally.per_person[person] = count
        if first is not None and last is not None:
            tally.first[person] = first
            tally.last[person] = last
    return tallies


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


__all__ = ["Draft", "assemble", "discipline_of"]
