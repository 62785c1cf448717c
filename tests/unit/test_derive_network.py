"""The co-participation network: ties, reproducible communities, undoing over-splits."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import igraph

from fhir_microsystems.derive import DerivationConfig, EncounterRecord
from fhir_microsystems.derive.network import (
    Context,
    merge_entangled,
    network_communities,
    partition,
    ties,
)
from fhir_microsystems.derive.records import EncounterRows

START = datetime(2025, 3, 1, tzinfo=UTC)


def _record(
    n: int, patient: str, people: tuple[str, ...], day: int, context: str | None = None
) -> EncounterRecord:
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
        context=context,
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
    # x-y: one shared encounter (1.0) and one shared patient (0.5)
    assert ties(EncounterRows.of(records), config, 31, None) == [("x", "y", 1.5), ("y", "z", 1.0)]
    # evidence from before the period weighs lookback_weight times as much
    late = ties(EncounterRows.of(records), config, 31, START + timedelta(days=3))
    assert late[0] == ("x", "y", 1.5 * config.lookback_weight)
    # the second y-z visit pair is more than 90 days apart only with a short window
    short = DerivationConfig(shared_patient_window_days=30)
    assert [(u, v) for u, v, _ in ties(EncounterRows.of(records), short, 31, None)] == [("x", "y")]


def _team_records(order_seed: int) -> list[EncounterRecord]:
    """Six loosely knit teams of 20 with random names, in shuffled order: numbered in
    another order, their network mostly splits differently."""
    rng = random.Random(5)
    names = [f"Practitioner/{rng.getrandbits(64):016x}" for _ in range(120)]
    records = []
    for n in range(600):
        team = rng.randrange(6)
        mates = names[team * 20 : team * 20 + 20]
        pair = rng.sample(mates, 2) if rng.random() < 0.3 else rng.sample(names, 2)
        records.append(_record(n, f"Patient/{n}", tuple(pair), rng.randrange(30)))
    random.Random(order_seed).shuffle(records)
    return records


def _found(records: list[EncounterRecord]) -> list[list[str]]:
    return [
        sorted(part)
        for part in network_communities(EncounterRows.of(records), {}, DerivationConfig(), 31)
    ]


def test_communities_do_not_depend_on_input_order() -> None:
    results = {tuple(map(tuple, _found(_team_records(k)))) for k in range(3)}
    assert len(results) == 1
    (found,) = results
    assert 4 <= len(found) <= 8


def test_communities_are_the_same_in_every_process() -> None:
    """Names are hashed with a per-process seed; the communities must not depend on it."""
    script = (
        "from tests.unit.test_derive_network import _found, _team_records;"
        "print(_found(_team_records(0)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=Path(__file__).parents[2],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2, 3)
    }
    assert outputs == {f"{_found(_team_records(0))}\n"}


def test_communities_stay_inside_each_home_context() -> None:
    records = [
        _record(n, f"Patient/{n}", pair, n % 28)
        for n, pair in enumerate(
            [("a1", "a2"), ("a2", "a3"), ("a1", "a3"), ("a1", "b1"), ("a2", "b1"), ("a3", "b1")] * 3
        )
    ]
    records.append(_record(99, "Patient/99", ("b1", "b2"), 1))
    homes: dict[str, Context] = {p: ("Organization/a", None) for p in ("a1", "a2", "a3")}
    homes |= {"b1": ("Organization/b", None), "b2": ("Organization/b", None)}
    homes["lone"] = ("Organization/c", None)
    records.append(_record(100, "Patient/100", ("lone",), 2))
    config = DerivationConfig()
    found = network_communities(EncounterRows.of(records), homes, config, 31)
    assert found == [{"a1", "a2", "a3"}, {"b1", "b2"}, {"lone"}]
    # without the split, b1's many ties to team a pull b1 in
    joined = network_communities(
        EncounterRows.of(records), homes, DerivationConfig(split_by_context=False), 31
    )
    assert any({"a1", "a2", "a3", "b1"} <= part for part in joined)


def _modularity(n: int, edges: list[tuple[int, int, float]], parts: list[list[int]]) -> float:
    membership = [0] * n
    for k, part in enumerate(parts):
        for node in part:
            membership[node] = k
    graph = igraph.Graph(n=n, edges=[(i, j) for i, j, _ in edges])
    return float(graph.modularity(membership, weights=[w for _, _, w in edges]))


def test_partition_keeps_the_best_of_several_seeded_runs() -> None:
    """Weakly structured teams: one Leiden run often stops in a worse local optimum."""
    config = DerivationConfig()
    better = 0
    for graph_seed in range(12):
        rng = random.Random(graph_seed)
        n = 18
        edges = sorted(
            (i, j, float(rng.randint(1, 4)))
            for i in range(n)
            for j in range(i + 1, n)
            if rng.random() < (0.8 if i // 5 == j // 5 else 0.45)
        )
        found = partition(n, edges, config)
        assert sorted(node for part in found for node in part) == list(range(n))
        assert found == sorted(sorted(part) for part in found)
        graph = igraph.Graph(n=n, edges=[(i, j) for i, j, _ in edges])
        igraph.set_random_number_generator(random.Random(config.seed))
        try:  # the first of partition's runs on its own
            one = graph.community_leiden(
                objective_function="modularity", weights=[w for _, _, w in edges], n_iterations=-1
            )
        finally:
            igraph.set_random_number_generator(random)
        single = _modularity(n, edges, sorted(sorted(part) for part in one))
        best = _modularity(n, edges, found)
        assert best >= single - 1e-12
        better += best > single + 1e-9
    assert better >= 3


def test_partition_leaves_isolated_nodes_alone() -> None:
    edges = [(0, 1, 2.0), (0, 2, 2.0), (1, 2, 2.0), (4, 5, 1.0)]
    assert partition(7, edges, DerivationConfig()) == [[0, 1, 2], [3], [4, 5], [6]]


def test_merge_entangled_joins_halves_of_a_rotating_team_only() -> None:
    staff = [f"r{i}" for i in range(8)]
    ring = [(person, staff[(i + 1) % 8], 4.0) for i, person in enumerate(staff)]
    ring += [(person, staff[(i + 2) % 8], 2.0) for i, person in enumerate(staff)]
    halves = [set(staff[:4]), set(staff[4:])]
    assert merge_entangled(halves, ring, 0.18) == [set(staff)]
    two_teams = [
        (f"{team}{i}", f"{team}{j}", 5.0)
        for team in "ab"
        for i in range(4)
        for j in range(i + 1, 4)
    ]
    two_teams += [("a0", f"b{i}", 3.0) for i in range(4)]  # one floater tied to all of team b
    teams = [{f"a{i}" for i in range(4)}, {f"b{i}" for i in range(4)}]
    assert merge_entangled(teams, two_teams, 0.18) == teams
    assert merge_entangled(teams, two_teams, 0.0) == teams
