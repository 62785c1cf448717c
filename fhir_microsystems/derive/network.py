"""The practitioner co-participation network and its communities.

Two clinicians are tied when they took part in the same encounters, or saw the same
patients within ``shared_patient_window_days`` (patient sharing, Barnett 2011). Ties are
weighted, thresholded, and split into communities (seeded, so deterministic) inside each
clinician's home organisational context.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import igraph
import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._duckdb import epoch_micros, sql_steps
from fhir_microsystems.sources import ReferenceIndex

from ._db import STEPS, registered
from .config import DerivationConfig
from .records import EncounterRows

Context = tuple[str | None, str | None]  # (organisation, location or None)


@dataclass(frozen=True)
class PairCounts:
    """Shared encounters and shared patients of each clinician pair, and the tie weight
    they add up to (look-back evidence discounted): the rows of ``ties.sql``, a table of
    ``u, v, shared_encounters, shared_patients, weight`` with ``u < v``, sorted."""

    table: pa.Table

    def rows(self) -> Iterator[tuple[str, str, int, int, float]]:
        """``(u, v, shared encounters, shared patients, weight)`` of every pair, ``u < v``."""
        return zip(*(self.table[name].to_pylist() for name in _PAIR_COLUMNS), strict=True)

    @property
    def encounters(self) -> Counter[tuple[str, str]]:
        """Shared encounters by name pair (pairs that share none are left out)."""
        return Counter({(u, v): e for u, v, e, _, _ in self.rows() if e})

    @property
    def patients(self) -> Counter[tuple[str, str]]:
        """Shared patients by name pair (pairs that share none are left out)."""
        return Counter({(u, v): p for u, v, _, p, _ in self.rows() if p})

    @property
    def weights(self) -> defaultdict[tuple[str, str], float]:
        """Tie weight by name pair."""
        return defaultdict(float, {(u, v): w for u, v, _, _, w in self.rows()})


_PAIR_COLUMNS = ("u", "v", "shared_encounters", "shared_patients", "weight")
#: Pairs of one patient's visits (rows of the shared-patient join) that a slice of the
#: patients holds at most (about 100 bytes each while they are grouped).
SLICE_VISIT_PAIRS = 2_000_000
_SQL = sql_steps(__package__, "ties.sql")
_PAIRS = _SQL["pairs"]
_NO_PAIRS = pa.table(
    {
        "u": pa.array([], pa.string()),
        "v": pa.array([], pa.string()),
        "shared_encounters": pa.array([], pa.int64()),
        "shared_patients": pa.array([], pa.int64()),
        "weight": pa.array([], pa.float64()),
    }
)


def _pairs(
    rows: EncounterRows,
    config: DerivationConfig,
    recent_from: datetime | None,
    least: tuple[int, int] = (0, 0),
) -> pa.Table:
    """The ``pairs`` of ``ties.sql`` over the rows of a network window, those with at least
    ``least`` shared encounters or patients (a tie's threshold: the pairs below it never
    leave the database)."""
    if len(_clinicians(rows)) < 2:  # no pair (half the windows of a sparse history):
        return _NO_PAIRS  # spare the database its fixed cost
    table = rows.table.select(["patient", "start", "participants"])
    table = table.append_column("rec", pa.array(range(len(rows)), pa.int64()))
    with registered(tie_records=table) as con:
        con.execute(_SQL["people"])
    recent = None if recent_from is None else epoch_micros(recent_from)
    try:
        (load,) = con.execute(_SQL["slice_load"]).fetchone() or (0,)
        slices = max(1, -(-int(load) // SLICE_VISIT_PAIRS))
        for number in range(slices):
            con.execute(
                _SQL["patient_pairs"],
                {
                    "slices": slices,
                    "slice": number,
                    "recent": recent,
                    "window": config.shared_patient_window_days * 86_400_000_000,
                },
            )
        parameters = {
            "recent": recent,
            "most": config.max_participants_per_encounter,
            "lookback": float(config.lookback_weight),
            "per_encounter": float(config.weight_shared_encounter),
            "per_patient": float(config.weight_shared_patient),
            "least_encounters": least[0],
            "least_patients": least[1],
        }
        return con.sql(_PAIRS, params=parameters).to_arrow_table()
    finally:
        con.execute(_SQL["drop"])


def count_pairs(
    rows: EncounterRows,
    config: DerivationConfig,
    recent_from: datetime | None = None,
) -> PairCounts:
    """Count shared encounters and shared patients over ``rows``; evidence from before
    ``recent_from`` weighs ``lookback_weight`` times as much as recent evidence (see
    ``ties.sql``)."""
    return PairCounts(_pairs(rows, config, recent_from))


def ties(
    rows: EncounterRows,
    config: DerivationConfig,
    window_days: float,
    recent_from: datetime | None,
) -> list[tuple[str, str, float]]:
    """The ties that pass a threshold, ``(u, v, weight)`` with ``u < v``, sorted, among the
    clinicians of ``rows``: ``min_shared_encounters`` shared encounters, or the shared
    patients of :meth:`~DerivationConfig.shared_patient_threshold`."""
    least = (config.min_shared_encounters, config.shared_patient_threshold(window_days))
    found = _pairs(rows, config, recent_from, least)
    return list(zip(*(found[name].to_pylist() for name in ("u", "v", "weight")), strict=True))


def _clinicians(rows: EncounterRows) -> list[str]:
    clinicians: list[str] = pc.unique(pc.list_flatten(rows.table["participants"])).to_pylist()
    return sorted(clinicians)


def home_contexts(
    rows: EncounterRows, index: ReferenceIndex, config: DerivationConfig
) -> dict[str, Context]:
    """Each clinician's home context (in name order): the plurality (organisation,
    location) of their encounters (location only with ``context_by_location``; ties by the
    pair's text); without any, their first active PractitionerRole's organisation."""
    table = rows.table.select(["participants", "context", "location"])
    with registered(win=table) as con:
        found = con.execute(STEPS["homes"], {"by_location": config.context_by_location}).fetchall()
    return {
        person: (org, loc) if known else _role_context(person, index)
        for person, known, org, loc in found
    }


def _role_context(person: str, index: ReferenceIndex) -> Context:
    for role in index.roles_of(person):
        if role.active and role.organization:
            return (role.organization, None)
    return (None, None)


def network_communities(
    rows: EncounterRows,
    homes: dict[str, Context],
    config: DerivationConfig,
    window_days: float,
    recent_from: datetime | None = None,
) -> list[set[str]]:
    """Communities of the clinicians in ``rows``, detected separately inside each home
    context (if ``split_by_context``): each context's ties become an integer edge list,
    clinicians numbered in name order, so the result does not depend on input order."""
    groups = _context_groups(_clinicians(rows), homes, config)
    where: dict[str, tuple[Context, int]] = {
        name: (ctx, i) for ctx, names in groups.items() for i, name in enumerate(names)
    }
    edges: dict[Context, list[tuple[int, int, float]]] = {ctx: [] for ctx in groups}
    for u, v, weight in ties(rows, config, window_days, recent_from):
        (ctx_u, i), (ctx_v, j) = where[u], where[v]
        if ctx_u == ctx_v:
            edges[ctx_u].append((i, j, weight) if i <= j else (j, i, weight))
    for found in edges.values():
        found.sort()
    return _communities_in(edges, groups, config)


def _context_groups(
    nodes: Iterable[str], homes: dict[str, Context], config: DerivationConfig
) -> dict[Context, list[str]]:
    """Clinicians by home context (one group unless ``split_by_context``), each sorted."""
    groups: dict[Context, list[str]] = {}
    for node in nodes:
        ctx = homes.get(node, (None, None)) if config.split_by_context else (None, None)
        groups.setdefault(ctx, []).append(node)
    return {ctx: sorted(names) for ctx, names in groups.items()}


def _communities_in(
    edges_of: dict[Context, list[tuple[int, int, float]]],
    groups: dict[Context, list[str]],
    config: DerivationConfig,
) -> list[set[str]]:
    found: list[set[str]] = []
    for ctx in sorted(groups, key=str):
        names = groups[ctx]
        edges = edges_of.pop(ctx)
        if not edges:
            found.extend({n} for n in names)
            continue
        parts = [{names[i] for i in part} for part in partition(len(names), edges, config)]
        if len(parts) > 1 and config.merge_min_cut_ratio > 0:
            named = [(names[i], names[j], weight) for i, j, weight in edges]
            parts = merge_entangled(parts, named, config.merge_min_cut_ratio)
        found.extend(parts)
    found.sort(key=min)
    return found


def partition(
    n: int, edges: Sequence[tuple[int, int, float]], config: DerivationConfig
) -> list[list[int]]:
    """Leiden communities of the graph of nodes ``0..n-1`` with weighted ``edges``
    ``(i, j, weight)``, each a sorted list, in order of their smallest node.

    igraph's Leiden optimises modularity at ``config.resolution``, each run iterated until
    it no longer improves; of ``_STARTS`` runs drawn from one generator seeded with
    ``config.seed``, the first with the highest modularity wins. One run can stop in a
    local optimum that splits a team differently from the next; the best of several
    matches the accuracy of networkx's Louvain, which a single run did not on the
    1,000-patient hospitals.
    """
    graph = igraph.Graph(n=n, edges=[(i, j) for i, j, _ in edges])
    weights = [weight for _, _, weight in edges]
    best: list[int] = []
    best_quality = -math.inf
    with _RNG_LOCK:  # igraph's generator is process-wide: seeded here, restored after
        igraph.set_random_number_generator(random.Random(config.seed))
        try:
            for _ in range(_STARTS):
                membership = graph.community_leiden(
                    objective_function="modularity",
                    weights=weights,
                    resolution=config.resolution,
                    n_iterations=-1,
                ).membership
                quality = graph.modularity(
                    membership, weights=weights, resolution=config.resolution
                )
                if quality > best_quality:
                    best, best_quality = membership, quality
        finally:
            igraph.set_random_number_generator(random)
    parts: dict[int, list[int]] = {}
    for node, community in enumerate(best):
        parts.setdefault(community, []).append(node)
    return sorted(parts.values())


_STARTS = 10
_RNG_LOCK = threading.Lock()


def merge_entangled(
    parts: list[set[str]], ties: Sequence[tuple[str, str, float]], min_ratio: float
) -> list[set[str]]:
    """Undo modularity splits of one tightly knit team (``ties`` are ``(u, v, weight)``).

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
        best = _most_entangled(parts, ties, min_ratio)
        if best is None:
            break
        i, j = best
        parts[i] |= parts[j]
        del parts[j]
    return parts


def _most_entangled(
    parts: list[set[str]], ties: Sequence[tuple[str, str, float]], min_ratio: float
) -> tuple[int, int] | None:
    owner = {node: i for i, part in enumerate(parts) for node in part}
    volume = [0.0] * len(parts)
    between: dict[tuple[int, int], float] = {}
    carried: dict[tuple[int, int], dict[str, float]] = {}
    for u, v, weight in ties:
        i, j = owner[u], owner[v]
        volume[i] += weight
        volume[j] += weight
        if i != j:
            key = (i, j) if i < j else (j, i)
            between[key] = between.get(key, 0) + weight
            by_node = carried.get(key)
            if by_node is None:
                by_node = carried[key] = {}
            by_node[u] = by_node.get(u, 0) + weight
            by_node[v] = by_node.get(v, 0) + weight
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
    "count_pairs",
    "home_contexts",
    "merge_entangled",
    "network_communities",
    "partition",
    "ties",
]
