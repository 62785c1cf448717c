"""The fast network code paths agree exactly with the straightforward definitions."""

from __future__ import annotations

import gc
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import combinations

import networkx as nx
import pytest

from fhir_microsystems.derive import DerivationConfig, EncounterRecord
from fhir_microsystems.derive.joining import activity_profiles
from fhir_microsystems.derive.network import (
    Context,
    _louvain_numbered,
    build_network,
    communities,
    count_pairs,
    home_contexts,
    louvain,
    merge_entangled,
    network_communities,
)

START = datetime(2025, 3, 1, tzinfo=UTC)


def _records(seed: int, days: int, count: int = 400) -> list[EncounterRecord]:
    rng = random.Random(seed)
    people = [f"Practitioner/{i:03d}" for i in range(40)]
    places = [None, "Location/a", "Location/b"]
    orgs = [None, "Organization/x", "Organization/y"]
    out = []
    for n in range(count):
        team = rng.randrange(4)
        pool = people[team * 10 : team * 10 + 12]
        size = rng.choice([1, 1, 2, 3, 4])
        out.append(
            EncounterRecord(
                key=f"Encounter/{n}",
                patient=rng.choice([None, *(f"Patient/{i}" for i in range(60))]),
                class_code=rng.choice([None, "AMB", "IMP", "EMER"]),
                status="finished",
                start=rng.choice(
                    [None, *[START + timedelta(hours=h) for h in range(0, 24 * days, 7)]]
                ),
                end=None,
                participants=tuple(rng.sample(pool, size)),
                unresolved_participants=0,
                service_provider=None,
                location=rng.choice(places),
                context=orgs[team % 3] if rng.random() < 0.9 else rng.choice(orgs),
                discharge_disposition=None,
            )
        )
    return out


def _reference_count_pairs(
    records: list[EncounterRecord], config: DerivationConfig, recent_from: datetime | None
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], dict[tuple[str, str], float]]:
    """Visit pair by visit pair, weights summed in record order then patient order."""
    encounters: Counter[tuple[str, str]] = Counter()
    patients: Counter[tuple[str, str]] = Counter()
    weights: dict[tuple[str, str], float] = {}
    visits: dict[str, list[tuple[float, str]]] = {}
    recent = recent_from.timestamp() if recent_from is not None else float("-inf")
    for rec in records:
        people = sorted(rec.participants)
        stamp = rec.start.timestamp() if rec.start is not None else recent
        factor = 1.0 if stamp >= recent else config.lookback_weight
        if 2 <= len(people) <= config.max_participants_per_encounter:
            for pair in combinations(people, 2):
                encounters[pair] += 1
                weights[pair] = weights.get(pair, 0.0) + factor * config.weight_shared_encounter
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
            patients[pair] += 1
            weights[pair] = weights.get(pair, 0.0) + factor * config.weight_shared_patient
    return encounters, patients, weights


@pytest.mark.parametrize("days", [20, 200])  # all visits within the window, and not
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_count_pairs_matches_visit_by_visit_counting(seed: int, days: int) -> None:
    records = _records(seed, days)
    # weights that do not add up exactly in floating point, so summation order shows
    config = DerivationConfig(
        lookback_weight=0.3, weight_shared_encounter=0.7, weight_shared_patient=0.1
    )
    for recent_from in (None, START + timedelta(days=days // 2), START + timedelta(days=days)):
        counts = count_pairs(records, config, recent_from)
        encounters, patients, weights = _reference_count_pairs(records, config, recent_from)
        assert counts.patients and counts.encounters
        assert counts.encounters == encounters
        assert counts.patients == patients
        assert dict(counts.weights) == weights
        assert counts.weights["nobody", "none"] == 0.0  # still a defaultdict


def test_count_pairs_uses_the_later_visit_of_a_pair_for_the_lookback_factor() -> None:
    def record(n: int, who: str, day: int) -> EncounterRecord:
        return EncounterRecord(
            f"Encounter/{n}", "Patient/p", None, "finished", START + timedelta(days=day),
            None, (who,), 0, None, None, None, None,
        )  # fmt: skip

    config = DerivationConfig()
    recent = START + timedelta(days=10)
    # x seen before the period, y after it: the later visit is recent
    counts = count_pairs([record(1, "x", 1), record(2, "y", 11)], config, recent)
    assert dict(counts.weights) == {("x", "y"): config.weight_shared_patient}
    # both before: look-back evidence only
    counts = count_pairs([record(1, "x", 1), record(2, "y", 2)], config, recent)
    assert dict(counts.weights) == {("x", "y"): config.weight_shared_patient * 0.25}
    # a third clinician seen late makes only their own pairs recent
    counts = count_pairs([record(1, "x", 1), record(2, "y", 2), record(3, "z", 12)], config, recent)
    assert counts.weights["x", "y"] == config.weight_shared_patient * 0.25
    assert counts.weights["x", "z"] == counts.weights["y", "z"] == config.weight_shared_patient


def _reference_communities(
    graph: nx.Graph, homes: dict[str, Context], config: DerivationConfig
) -> list[set[str]]:
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


@pytest.mark.parametrize("ratio", [0.0, 0.2])
@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_communities_match_louvain_on_each_context_subgraph(
    seed: int, split: bool, ratio: float
) -> None:
    records = _records(seed, 60, count=800)
    config = DerivationConfig(split_by_context=split, merge_min_cut_ratio=ratio)
    graph = build_network(records, config, 60, START + timedelta(days=30))
    homes = home_contexts(records, _NoRoles(), config)
    graph.add_node("Practitioner/lonely")  # an isolated clinician in a context of its own
    homes["Practitioner/lonely"] = ("Organization/z", None)
    graph.add_edge("Practitioner/000", "Practitioner/000", weight=500.0)  # and a self-loop
    found = communities(graph, homes, config)
    assert len(found) > (2 if ratio == 0 else 1)
    assert found == _reference_communities(graph, homes, config)


@pytest.mark.parametrize("ratio", [0.0, 0.2])
@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_network_communities_match_communities_of_the_built_network(
    seed: int, split: bool, ratio: float
) -> None:
    records = _records(seed, 60, count=800)
    config = DerivationConfig(split_by_context=split, merge_min_cut_ratio=ratio)
    homes = home_contexts(records, _NoRoles(), config)
    homes["Practitioner/001"] = ("Organization/z", None)  # a context of one (no edges)
    recent = START + timedelta(days=30)
    graph = build_network(records, config, 60, recent)
    found = network_communities(records, homes, config, 60, recent)
    assert found == communities(graph, homes, config)
    assert len(found) > (0 if ratio and not split else 1)  # merging may leave one
    if split:
        assert {"Practitioner/001"} in found


class _NoRoles:
    def roles_of(self, person: str) -> list[object]:
        return []


def test_home_contexts_and_profiles_keep_the_plurality_and_first_seen_order() -> None:
    records = _records(4, 60)
    config = DerivationConfig()
    homes = home_contexts(records, _NoRoles(), config)  # type: ignore[arg-type]
    for person, home in homes.items():
        tally = Counter(
            (r.context, None)
            for r in records
            if person in r.participants and (r.context is not None or r.location is not None)
        )
        if not tally:
            assert home == (None, None)
        else:
            assert home == min(tally.items(), key=lambda item: (-item[1], str(item[0])))[0]
    profiles = activity_profiles(records)
    for person, profile in profiles.items():
        mine = [r for r in records if person in r.participants and r.start is not None]
        assert profile.encounters == len(mine)
        hours = Counter(r.start.hour for r in mine if r.start is not None)
        places = Counter(r.location or r.context or "" for r in mine)
        classes = Counter(r.class_code or "" for r in mine)
        # same counts, keys in order of first occurrence (overlaps are summed in it)
        assert list(profile.hours.items()) == list(hours.items())
        assert list(profile.places.items()) == list(places.items())
        assert list(profile.classes.items()) == list(classes.items())


def test_louvain_leaves_no_reference_cycles_behind() -> None:
    """Louvain's graph copies are freed when dropped, not at the next full collection."""
    rng = random.Random(1)
    names = [f"Practitioner/{i:03d}" for i in range(120)]
    edges = sorted(
        (i, j, float(rng.randint(1, 5)))
        for i in range(120)
        for j in range(i + 1, 120)
        if rng.random() < 0.08
    )
    config = DerivationConfig()
    expected = _louvain_numbered(names, edges, config)  # warm: networkx's one-time set-up
    graph = nx.Graph()
    graph.add_nodes_from(range(len(names)))
    graph.add_weighted_edges_from(edges)
    reference = nx.community.louvain_communities(
        graph, resolution=config.resolution, seed=config.seed
    )
    assert expected == sorted(({names[i] for i in part} for part in reference), key=min)
    gc.collect()
    gc.disable()
    try:
        assert _louvain_numbered(names, edges, config) == expected
        assert gc.collect() == 0
    finally:
        gc.enable()
