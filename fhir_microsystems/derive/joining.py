"""Join communities that are one microsystem: explicit CareTeams and complementary shifts.

Co-participation alone splits a unit whose staff work in shifts (day and night staff of
one ED rarely share an encounter) and cannot see teams written down as CareTeams. Two
kinds of evidence join communities:

- an explicit team CareTeam in force that lists most of a community's members pulls that
  community in (all communities it covers become one);
- two communities of the same home context, working at the same place and in the same care
  setting but at complementary hours of the day, are one unit's shifts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from fhir_microsystems.periods import Period

from ._db import STEPS, numbered, registered
from .careteams import ExplicitMember, ExplicitTeam
from .config import DerivationConfig
from .network import Context
from .records import EncounterRows

K = TypeVar("K")


@dataclass
class Cluster:
    """A candidate microsystem of one period: practitioners plus explicit evidence."""

    practitioners: set[str]
    context: Context
    team: ExplicitTeam | None = None
    explicit_members: dict[str, ExplicitMember] = field(default_factory=dict)

    def absorb(self, other: Cluster) -> None:
        self.practitioners |= other.practitioners
        self.explicit_members.update(other.explicit_members)
        if self.team is None:
            self.team = other.team


def make_clusters(parts: Iterable[set[str]], homes: Mapping[str, Context]) -> list[Cluster]:
    """Clusters from communities, each in the plurality home context of its members."""
    clusters = []
    for part in parts:
        tally = Counter(homes.get(p, (None, None)) for p in part)
        context = min(tally.items(), key=lambda item: (-item[1], str(item[0])))[0]
        clusters.append(Cluster(set(part), context))
    return clusters


def join_by_careteams(
    clusters: list[Cluster],
    teams: Sequence[ExplicitTeam],
    period: Period,
    config: DerivationConfig,
) -> list[Cluster]:
    """Merge the clusters each team in force mostly covers; attach each team to one cluster.

    A cluster is covered when at least ``careteam_min_cover`` of its practitioners are on the
    team and no other team in force lists as many of them (a community listed equally by
    two teams, e.g. through a stale roster, is pulled into neither). Afterwards each cluster
    gets at most one team and each team at most one cluster: the pairs sharing most
    practitioners first, among clusters the team covers or holding at least
    ``careteam_min_cover`` of the team. A team that covers no cluster and is not mostly held
    by one becomes a cluster of its own (explicit evidence only).
    """
    rosters = [(team, {m.practitioner: m for m in team.members_in(period)}) for team in teams]
    rosters = [(team, listed) for team, listed in rosters if listed]
    for position, (_, listed) in enumerate(rosters):
        names = set(listed)
        covered = [
            c
            for c in clusters
            if c.practitioners
            and config.join_by_careteam
            and len(c.practitioners & names) / len(c.practitioners) >= config.careteam_min_cover
            and _best_roster(c, rosters) == position
        ]
        head = covered[0] if covered else None
        for other in covered[1:]:
            assert head is not None
            head.absorb(other)
            clusters.remove(other)
    candidates = []
    for position, (team, listed) in enumerate(rosters):
        names = set(listed)
        for number, cluster in enumerate(clusters):
            shared = len(cluster.practitioners & names)
            if not shared:
                continue
            of_cluster = shared / len(cluster.practitioners)
            if of_cluster >= config.careteam_min_cover or (
                shared / len(names) >= config.careteam_min_cover
            ):
                candidates.append((-shared, -of_cluster, team.key, number, position))
    placed: set[int] = set()
    attached: set[int] = set()
    for _, _, _, number, position in sorted(candidates):
        if number in placed or position in attached or clusters[number].team is not None:
            continue
        placed.add(number)
        attached.add(position)
        team, listed = rosters[position]
        clusters[number].team = team
        clusters[number].explicit_members.update(listed)
    considered = {position for *_, position in candidates}
    for position, (team, listed) in enumerate(rosters):
        if position not in considered:
            head = Cluster(set(), (team.organization, None), team, dict(listed))
            clusters.append(head)
    return clusters


def _best_roster(
    cluster: Cluster, rosters: Sequence[tuple[ExplicitTeam, Mapping[str, ExplicitMember]]]
) -> int | None:
    """The roster listing most of the cluster's practitioners, None when two tie."""
    counts = sorted(
        ((len(cluster.practitioners & set(listed)), i) for i, (_, listed) in enumerate(rosters)),
        reverse=True,
    )
    if not counts or (len(counts) > 1 and counts[0][0] == counts[1][0]):
        return None
    return counts[0][1]


@dataclass
class _Profile:
    hours: Counter[int] = field(default_factory=Counter)
    places: Counter[str] = field(default_factory=Counter)
    classes: Counter[str] = field(default_factory=Counter)
    encounters: int = 0

    def add(self, other: _Profile) -> None:
        self.hours.update(other.hours)
        self.places.update(other.places)
        self.classes.update(other.classes)
        self.encounters += other.encounters


def _overlap(a: Mapping[K, int], b: Mapping[K, int]) -> float:
    """Overlap of two distributions given as counts: sum of the smaller shares (0..1)."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if not total_a or not total_b:
        return 0.0
    return sum(min(a[k] / total_a, b.get(k, 0) / total_b) for k in a)


def activity_profiles(rows: EncounterRows) -> dict[str, _Profile]:
    """Per clinician: hour of day (UTC), place and care setting of their encounters (each
    tally's keys in order of first occurrence, as when counted one by one)."""
    with registered(win=numbered(rows.table.select(_ACTIVITY_COLUMNS))) as con:
        con.execute(STEPS["activity"])
        try:
            counts = con.execute(STEPS["activity_counts"]).fetchall()
        finally:
            con.execute(STEPS["drop"])
    profiles: dict[str, _Profile] = {}
    for person, kind, value, count, _ in counts:
        profile = profiles.get(person)
        if profile is None:
            profile = profiles[person] = _Profile()
        if kind == "hour":
            profile.hours[int(value)] = count
            profile.encounters += count
        elif kind == "place":
            profile.places[value] = count
        else:
            profile.classes[value] = count
    return profiles


_ACTIVITY_COLUMNS = ["start", "participants", "location", "context", "class_code"]


def join_shifts(
    clusters: list[Cluster],
    profiles: Mapping[str, _Profile],
    config: DerivationConfig,
    previous: Mapping[str, str] | None = None,
) -> list[Cluster]:
    """Merge same-context clusters with complementary hours at the same place and setting.

    ``previous`` maps practitioners to the microsystem they were core members of in the
    previous period: two clusters mostly made of one previous microsystem's core members
    are judged with the looser ``shift_max_hour_overlap_continuing`` (a unit's shifts that
    were one microsystem last period are not split by a month of uneven rotas).
    Greedy: the most complementary qualifying pair first, until no pair qualifies.
    """
    if not config.join_shifts:
        return clusters
    merged = _cluster_profiles(clusters, profiles)
    origins = [_origin(c, previous or {}) for c in clusters]
    while True:
        best: tuple[float, int, int] | None = None
        for i, a in enumerate(clusters):
            pa = merged[i]
            if pa.encounters < config.shift_min_encounters or a.context == (None, None):
                continue
            for j in range(i + 1, len(clusters)):
                b, pb = clusters[j], merged[j]
                if b.context != a.context or pb.encounters < config.shift_min_encounters:
                    continue
                hours = _overlap(pa.hours, pb.hours)
                limit = config.shift_max_hour_overlap
                if origins[i] is not None and origins[i] == origins[j]:
                    limit = max(limit, config.shift_max_hour_overlap_continuing)
                if (
                    hours <= limit
                    and _overlap(pa.places, pb.places) >= config.shift_min_place_overlap
                    and _overlap(pa.classes, pb.classes) >= config.shift_min_place_overlap
                    and (best is None or hours < best[0])
                ):
                    best = (hours, i, j)
        if best is None:
            return clusters
        _, i, j = best
        clusters[i].absorb(clusters[j])
        merged[i].add(merged[j])
        del clusters[j]
        del merged[j]
        del origins[j]


def _origin(cluster: Cluster, previous: Mapping[str, str]) -> str | None:
    """The previous-period microsystem more than half of the cluster's practitioners were
    core members of, if any."""
    tally = Counter(previous[p] for p in cluster.practitioners if p in previous)
    if not tally:
        return None
    best, count = min(tally.items(), key=lambda item: (-item[1], item[0]))
    return best if 2 * count > len(cluster.practitioners) else None


def _cluster_profiles(
    clusters: Sequence[Cluster], profiles: Mapping[str, _Profile]
) -> list[_Profile]:
    out = []
    for cluster in clusters:
        total = _Profile()
        for person in sorted(cluster.practitioners):
            if person in profiles:
                total.add(profiles[person])
        out.append(total)
    return out


__all__ = [
    "Cluster",
    "activity_profiles",
    "join_by_careteams",
    "join_shifts",
    "make_clusters",
]
