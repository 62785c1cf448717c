"""The co-participation network: ties, reproducible Louvain, undoing over-splits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import networkx as nx

from fhir_microsystems.derive import DerivationConfig, EncounterRecord
from fhir_microsystems.derive.network import build_network, louvain, merge_entangled

START = datetime(2025, 3, 1, tzinfo=UTC)


def _record(n: int, patient: str, people: tuple[str, ...], day: int) -> EncounterRecord:
    return EncounterRecord(
        key=f"Encounter/{n}",
        patient=patient,
        class_code="AMB",
        status="finished",
        start=START + timedelta(days=day),
        end=None,
        participants=people,
        unresolved_participants=0,
        service_provider=None,
        location=None,
        context=None,
        discharge_disposition=None,
    )


def test_ties_need_a_shared_encounter_or_enough_shared_patients() -> None:
    records = [
        _record(1, "Patient/a", ("x", "y"), 1),  # shared encounter
        _record(2, "Patient/b", ("x",), 2),
        _record(3, "Patient/b", ("z",), 3),  # one shared patient x-z: below threshold
        _record(4, "Patient/c", ("y",), 4),
        _record(5, "Patient/c", ("z",), 5),
        _record(6, "Patient/d", ("y",), 6),
        _record(7, "Patient/d", ("z",), 70),  # y-z: two shared patients
    ]
    config = DerivationConfig()
    graph = build_network(records, config, window_days=31)
    assert set(graph.nodes) == {"x", "y", "z"}
    assert {tuple(sorted(e)) for e in graph.edges} == {("x", "y"), ("y", "z")}
    # x-y: one shared encounter (1.0) and one shared patient (0.5)
    assert graph["x"]["y"]["weight"] == 1.5
    assert graph["y"]["z"]["weight"] == 1.0
    # evidence from before the period weighs lookback_weight times as much
    late = build_network(records, config, window_days=31, recent_from=START + timedelta(days=3))
    assert late["x"]["y"]["weight"] == 1.5 * config.lookback_weight
    # the second y-z visit pair is more than 90 days apart only with a short window
    short = DerivationConfig(shared_patient_window_days=30)
    assert not build_network(records, short, window_days=31).has_edge("y", "z")


def _shuffled_graph(order_seed: int) -> nx.Graph:
    rng = random.Random(5)
    names = [f"Practitioner/{rng.getrandbits(64):016x}" for _ in range(120)]
    edges = [
        (names[i], names[j], rng.randint(1, 3) * 0.25)
        for i in range(120)
        for j in range(i + 1, 120)
        if rng.random() < (0.25 if i // 20 == j // 20 else 0.03)
    ]
    shuffler = random.Random(order_seed)
    shuffler.shuffle(names)
    shuffler.shuffle(edges)
    graph = nx.Graph()
    graph.add_nodes_from(names)
    graph.add_weighted_edges_from(edges)
    return graph


def test_louvain_does_not_depend_on_insertion_order() -> None:
    # plain louvain_communities gives different partitions for these three graphs
    results = {
        tuple(tuple(sorted(part)) for part in louvain(_shuffled_graph(k), DerivationConfig()))
        for k in range(3)
    }
    assert len(results) == 1
    (partition,) = results
    assert 4 <= len(partition) <= 8


def test_merge_entangled_joins_halves_of_a_rotating_team_only() -> None:
    ring = nx.Graph()
    staff = [f"r{i}" for i in range(8)]
    for i, person in enumerate(staff):
        ring.add_edge(person, staff[(i + 1) % 8], weight=4.0)
        ring.add_edge(person, staff[(i + 2) % 8], weight=2.0)
    halves = [set(staff[:4]), set(staff[4:])]
    assert merge_entangled(halves, ring, 0.18) == [set(staff)]
    two_teams = nx.Graph()
    for team in ("a", "b"):
        for i in range(4):
            for j in range(i + 1, 4):
                two_teams.add_edge(f"{team}{i}", f"{team}{j}", weight=5.0)
    for i in range(4):  # one floater tied to all of team b
        two_teams.add_edge("a0", f"b{i}", weight=3.0)
    teams = [{f"a{i}" for i in range(4)}, {f"b{i}" for i in range(4)}]
    assert merge_entangled(teams, two_teams, 0.18) == teams
    assert merge_entangled(teams, two_teams, 0.0) == teams
