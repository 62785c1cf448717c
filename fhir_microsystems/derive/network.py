"""The practitioner co-participation network and its communities.

Two clinicians are tied when they took part in the same encounters, or saw the same
patients within ``shared_patient_window_days`` (patient sharing, Barnett 2011). Ties are
weighted, thresholded, and split into communities with Louvain (seeded, so deterministic)
inside each clinician's home organisational context.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import combinations

import networkx as nx

from fhir_microsystems.sources import ReferenceIndex

from .config import DerivationConfig
from .records import EncounterRecord

Context = tuple[str | None, str | None]  # (organisation, location or None)


@dataclass
class PairCounts:
    """Shared encounters and shared patients of each clinician pair (keys sorted)."""

    encounters: Counter[tuple[str, str]] = field(default_factory=Counter)
    patients: Counter[tuple[str, str]] = field(default_factory=Counter)


def count_pairs(records: Iterable[EncounterRecord], config: DerivationConfig) -> PairCounts:
    """Count shared encounters and shared patients over ``records``."""
    counts = PairCounts()
    visits: dict[str, list[tuple[float, str]]] = {}
    for rec in records:
        people = sorted(rec.participants)
        if 2 <= len(people) <= config.max_participants_per_encounter:
            counts.encounters.update(combinations(people, 2))
        if rec.patient is not None and rec.start is not None:
            stamp = rec.start.timestamp()
            visits.setdefault(rec.patient, []).extend((stamp, p) for p in people)
    window = timedelta(days=config.shared_patient_window_days).total_seconds()
    for seen in visits.values():
        seen.sort()
        pairs: set[tuple[str, str]] = set()
        for i, (t_i, p_i) in enumerate(seen):
            for t_j, p_j in seen[i + 1 :]:
                if t_j - t_i > window:
                    break
                if p_i != p_j:
                    pairs.add((p_i, p_j) if p_i < p_j else (p_j, p_i))
        counts.patients.update(pairs)
    return counts


def build_network(
    records: Sequence[EncounterRecord], config: DerivationConfig, window_days: float
) -> nx.Graph:
    """Weighted tie graph of every clinician in ``records`` (isolated ones included)."""
    counts = count_pairs(records, config)
    patient_threshold = config.shared_patient_threshold(window_days)
    graph = nx.Graph()
    graph.add_nodes_from(sorted({p for rec in records for p in rec.participants}))
    for pair in sorted(set(counts.encounters) | set(counts.patients)):
        shared_encounters = counts.encounters.get(pair, 0)
        shared_patients = counts.patients.get(pair, 0)
        if shared_encounters < config.min_shared_encounters and shared_patients < patient_threshold:
            continue
        weight = (
            shared_encounters * config.weight_shared_encounter
            + shared_patients * config.weight_shared_patient
        )
        graph.add_edge(*pair, weight=weight)
    return graph


def home_contexts(
    records: Sequence[EncounterRecord], index: ReferenceIndex, config: DerivationConfig
) -> dict[str, Context]:
    """Each clinician's home context: the plurality (organisation, location) of their
    encounters (location only with ``context_by_location``); without any, their first
    active PractitionerRole's organisation."""
    tallies: dict[str, Counter[Context]] = {}
    for rec in records:
        if rec.context is None and rec.location is None:
            continue
        ctx: Context = (rec.context, rec.location if config.context_by_location else None)
        for person in rec.participants:
            tallies.setdefault(person, Counter())[ctx] += 1
    homes: dict[str, Context] = {}
    for person, tally in tallies.items():
        homes[person] = min(tally.items(), key=lambda item: (-item[1], str(item[0])))[0]
    for rec in records:
        for person in rec.participants:
            if person not in homes:
                homes[person] = _role_context(person, index)
    return homes


def _role_context(person: str, index: ReferenceIndex) -> Context:
    for role in index.roles_of(person):
        if role.active and role.organization:
            return (role.organization, None)
    return (None, None)


def communities(
    graph: nx.Graph, homes: dict[str, Context], config: DerivationConfig
) -> list[set[str]]:
    """Louvain communities, detected separately inside each home context (if configured)."""
    groups: dict[Context, list[str]] = {}
    for node in graph.nodes:
        ctx = homes.get(node, (None, None)) if config.split_by_context else (None, None)
        groups.setdefault(ctx, []).append(node)
    found: list[set[str]] = []
    for ctx in sorted(groups, key=str):
        sub = graph.subgraph(sorted(groups[ctx]))
        if sub.number_of_edges() == 0:
            found.extend({n} for n in sub.nodes)
            continue
        parts = nx.community.louvain_communities(
            sub, weight="weight", resolution=config.resolution, seed=config.seed
        )
        found.extend(
            merge_entangled([set(part) for part in parts], sub, config.merge_min_cut_ratio)
        )
    found.sort(key=min)
    return found


def merge_entangled(parts: list[set[str]], graph: nx.Graph, min_ratio: float) -> list[set[str]]:
    """Undo modularity splits of one tightly knit team.

    Modularity splits any sparse team (a ward whose staff rotate through shifts forms a
    ring, not a clique). Two communities are merged, most entangled pair first, while the
    weight of the ties between them is at least ``min_ratio`` of the smaller one's total
    tie weight (volume): distinct microsystems share only a floater's few ties.
    """
    parts = [set(p) for p in parts]
    if min_ratio <= 0 or len(parts) < 2:
        return parts
    owner = {node: i for i, part in enumerate(parts) for node in part}
    volume = [0.0] * len(parts)
    between: dict[tuple[int, int], float] = {}
    for u, v, weight in graph.edges(data="weight", default=1.0):
        i, j = owner[u], owner[v]
        volume[i] += weight
        volume[j] += weight
        if i != j:
            key = (i, j) if i < j else (j, i)
            between[key] = between.get(key, 0.0) + weight
    alive = set(range(len(parts)))
    while True:
        best, best_ratio = None, min_ratio
        for (i, j), weight in sorted(between.items()):
            smaller = min(volume[i], volume[j])
            ratio = weight / smaller if smaller else 0.0
            if ratio >= best_ratio:
                best, best_ratio = (i, j), ratio
        if best is None:
            return [parts[i] for i in sorted(alive)]
        i, j = best
        parts[i] |= parts[j]
        volume[i] += volume[j]
        alive.discard(j)
        merged: dict[tuple[int, int], float] = {}
        for (first, second), weight in between.items():
            a, b = (i if first == j else first), (i if second == j else second)
            if a != b:
                key = (a, b) if a < b else (b, a)
                merged[key] = merged.get(key, 0.0) + weight
        between = merged


__all__ = [
    "Context",
    "PairCounts",
    "build_network",
    "communities",
    "count_pairs",
    "home_contexts",
    "merge_entangled",
]
