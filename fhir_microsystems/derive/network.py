"""The practitioner co-participation network and its communities.

Two clinicians are tied when they took part in the same encounters, or saw the same
patients within ``shared_patient_window_days`` (patient sharing, Barnett 2011). Ties are
weighted, thresholded, and split into communities with Louvain (seeded, so deterministic)
inside each clinician's home organisational context.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations

import networkx as nx

from fhir_microsystems.sources import ReferenceIndex

from .config import DerivationConfig
from .records import EncounterRecord

Context = tuple[str | None, str | None]  # (organisation, location or None)


@dataclass
class PairCounts:
    """Shared encounters and shared patients of each clinician pair (keys sorted), and the
    tie weight they add up to (look-back evidence discounted)."""

    encounters: Counter[tuple[str, str]] = field(default_factory=Counter)
    patients: Counter[tuple[str, str]] = field(default_factory=Counter)
    weights: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))


def count_pairs(
    records: Iterable[EncounterRecord],
    config: DerivationConfig,
    recent_from: datetime | None = None,
) -> PairCounts:
    """Count shared encounters and shared patients over ``records``; evidence from before
    ``recent_from`` weighs ``lookback_weight`` times as much as recent evidence."""
    counts = PairCounts()
    visits: dict[str, list[tuple[float, str]]] = {}
    recent = recent_from.timestamp() if recent_from is not None else float("-inf")
    for rec in records:
        people = sorted(rec.participants)
        stamp = rec.start.timestamp() if rec.start is not None else recent
        factor = 1.0 if stamp >= recent else config.lookback_weight
        if 2 <= len(people) <= config.max_participants_per_encounter:
            for pair in combinations(people, 2):
                counts.encounters[pair] += 1
                counts.weights[pair] += factor * config.weight_shared_encounter
        if rec.patient is not None and rec.start is not None:
            visits.setdefault(rec.patient, []).extend((stamp, p) for p in people)
    window = timedelta(days=config.shared_patient_window_days).total_seconds()
    for seen in visits.values():
        seen.sort()
        pairs: dict[tuple[str, str], float] = {}
        for i, (t_i, p_i) in enumerate(seen):
            for t_j, p_j in seen[i + 1 :]:
                if t_j - t_i > window:
                    break
                if p_i != p_j:
                    pair = (p_i, p_j) if p_i < p_j else (p_j, p_i)
                    factor = 1.0 if t_j >= recent else config.lookback_weight
                    pairs[pair] = max(pairs.get(pair, 0.0), factor)
        for pair, factor in pairs.items():
            counts.patients[pair] += 1
            counts.weights[pair] += factor * config.weight_shared_patient
    return counts


def build_network(
    records: Sequence[EncounterRecord],
    config: DerivationConfig,
    window_days: float,
    recent_from: datetime | None = None,
) -> nx.Graph:
    """Weighted tie graph of every clinician in ``records`` (isolated ones included)."""
    counts = count_pairs(records, config, recent_from)
    patient_threshold = config.shared_patient_threshold(window_days)
    graph = nx.Graph()
    graph.add_nodes_from(sorted({p for rec in records for p in rec.participants}))
    for pair in sorted(counts.weights):
        shared_encounters = counts.encounters.get(pair, 0)
        shared_patients = counts.patients.get(pair, 0)
        if shared_encounters < config.min_shared_encounters and shared_patients < patient_threshold:
            continue
        graph.add_edge(*pair, weight=counts.weights[pair])
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
        sub = graph.subgraph(sorted(groups[ctx])).copy()
        if sub.number_of_edges() == 0:
            found.extend({n} for n in sub.nodes)
            continue
        found.extend(merge_entangled(louvain(sub, config), sub, config.merge_min_cut_ratio))
    found.sort(key=min)
    return found


def louvain(graph: nx.Graph, config: DerivationConfig) -> list[set[str]]:
    """Seeded Louvain that gives the same communities in every process.

    Louvain iterates sets of nodes, whose order for strings depends on the per-process hash
    seed; on a copy with the nodes numbered in sorted order it is reproducible.
    """
    names = sorted(graph.nodes)
    number = {name: i for i, name in enumerate(names)}
    numbered = nx.Graph()
    numbered.add_nodes_from(range(len(names)))
    numbered.add_weighted_edges_from(
        sorted(
            (min(number[u], number[v]), max(number[u], number[v]), w)
            for u, v, w in graph.edges(data="weight", default=1.0)
        )
    )
    parts = nx.community.louvain_communities(
        numbered, weight="weight", resolution=config.resolution, seed=config.seed
    )
    return sorted(({names[i] for i in part} for part in parts), key=min)


def merge_entangled(parts: list[set[str]], graph: nx.Graph, min_ratio: float) -> list[set[str]]:
    """Undo modularity splits of one tightly knit team.

    Modularity splits any sparse team (an ED whose staff rotate through shifts forms a
    ring, not a clique). Two communities are merged, most entangled pair first, while the
    weight of the ties between them, less the share of the single clinician who carries
    most of it, is at least ``min_ratio`` of the smaller one's total tie weight (volume).
    Distinct microsystems are tied mostly through a floater or a shared clinician, which
    the discount removes; halves of one team are tied through many of their members.
    """
    parts = [set(p) for p in parts]
    if min_ratio <= 0:
        return parts
    while len(parts) > 1:
        best = _most_entangled(parts, graph, min_ratio)
        if best is None:
            break
        i, j = best
        parts[i] |= parts[j]
        del parts[j]
    return parts


def _most_entangled(
    parts: list[set[str]], graph: nx.Graph, min_ratio: float
) -> tuple[int, int] | None:
    owner = {node: i for i, part in enumerate(parts) for node in part}
    volume = [0.0] * len(parts)
    between: Counter[tuple[int, int]] = Counter()
    carried: dict[tuple[int, int], Counter[str]] = {}
    for u, v, weight in graph.edges(data="weight", default=1.0):
        i, j = owner[u], owner[v]
        volume[i] += weight
        volume[j] += weight
        if i != j:
            key = (i, j) if i < j else (j, i)
            between[key] += weight
            by_node = carried.setdefault(key, Counter())
            by_node[u] += weight
            by_node[v] += weight
    best, best_ratio = None, min_ratio
    for key in sorted(between):
        smaller = min(volume[key[0]], volume[key[1]])
        robust = between[key] - max(carried[key].values())
        ratio = robust / smaller if smaller else 0.0
        if ratio >= best_ratio:
            best, best_ratio = key, ratio
    return best


__all__ = [
    "Context",
    "PairCounts",
    "build_network",
    "communities",
    "count_pairs",
    "home_contexts",
    "louvain",
    "merge_entangled",
]
