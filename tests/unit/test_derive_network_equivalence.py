"""Tie counting and home contexts agree exactly with the straightforward definitions."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest

from fhir_microsystems.derive import DerivationConfig, EncounterRecord
from fhir_microsystems.derive.joining import activity_profiles
from fhir_microsystems.derive.network import count_pairs, home_contexts
from fhir_microsystems.derive.records import EncounterRows

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


Pair = tuple[str, str]


def _reference_count_pairs(
    records: list[EncounterRecord], config: DerivationConfig, recent_from: datetime | None
) -> tuple[Counter[Pair], Counter[Pair], dict[Pair, float], dict[Pair, float]]:
    """Visit pair by visit pair: shared encounters and patients, and each pair's weight
    twice, by the definition (four integer counts scaled once) and summed piece by piece
    in record order, then patient order (as the row-at-a-time counter did)."""
    encounters: Counter[Pair] = Counter()
    patients: Counter[Pair] = Counter()
    older: Counter[tuple[str, Pair]] = Counter()  # ("encounter" | "patient", pair)
    summed: dict[Pair, float] = {}
    visits: dict[str, list[tuple[float, str]]] = {}
    recent = recent_from.timestamp() if recent_from is not None else float("-inf")
    lookback = config.lookback_weight
    for rec in records:
        people = sorted(rec.participants)
        stamp = rec.start.timestamp() if rec.start is not None else recent
        if 2 <= len(people) <= config.max_participants_per_encounter:
            for pair in combinations(people, 2):
                encounters[pair] += 1
                older["encounter", pair] += stamp < recent
                factor = 1.0 if stamp >= recent else lookback
                summed[pair] = summed.get(pair, 0.0) + factor * config.weight_shared_encounter
        if rec.patient is not None and rec.start is not None:
            visits.setdefault(rec.patient, []).extend((stamp, p) for p in people)
    window = timedelta(days=config.shared_patient_window_days).total_seconds()
    for seen in visits.values():
        seen.sort()
        pairs: dict[Pair, float] = {}
        for i, (t_i, p_i) in enumerate(seen):
            for t_j, p_j in seen[i + 1 :]:
                if t_j - t_i > window:
                    break
                if p_i != p_j:
                    pair = (p_i, p_j) if p_i < p_j else (p_j, p_i)
                    factor = 1.0 if t_j >= recent else lookback
                    pairs[pair] = max(pairs.get(pair, 0.0), factor)
        for pair, factor in pairs.items():
            patients[pair] += 1
            older["patient", pair] += factor != 1.0
            summed[pair] = summed.get(pair, 0.0) + factor * config.weight_shared_patient
    defined = {
        pair: config.weight_shared_encounter
        * (encounters[pair] - older["encounter", pair] + lookback * older["encounter", pair])
        + config.weight_shared_patient
        * (patients[pair] - older["patient", pair] + lookback * older["patient", pair])
        for pair in encounters.keys() | patients.keys()
    }
    return encounters, patients, defined, summed


@pytest.mark.parametrize("days", [20, 200])  # all visits within the window, and not
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_count_pairs_matches_visit_by_visit_counting(seed: int, days: int) -> None:
    records = _records(seed, days)
    # weights that do not add up exactly in floating point, so summation order would show
    config = DerivationConfig(
        lookback_weight=0.3, weight_shared_encounter=0.7, weight_shared_patient=0.1
    )
    for recent_from in (None, START + timedelta(days=days // 2), START + timedelta(days=days)):
        counts = count_pairs(EncounterRows.of(records), config, recent_from)
        encounters, patients, weights, _ = _reference_count_pairs(records, config, recent_from)
        assert counts.patients and counts.encounters
        assert counts.encounters == encounters
        assert counts.patients == patients
        assert dict(counts.weights) == weights
        assert counts.weights["nobody", "none"] == 0.0  # still a defaultdict


@pytest.mark.parametrize("seed", [1, 2])
def test_default_weights_equal_the_piecewise_sums(seed: int) -> None:
    """The shipped weights (1, 0.5, 0.25) are sums of powers of two, exact in floating
    point: the weights scaled once are the very floats the row-at-a-time counter summed,
    so communities (and every output) are unchanged by counting with SQL."""
    records = _records(seed, 120)
    config = DerivationConfig()
    recent_from = START + timedelta(days=60)
    counts = count_pairs(EncounterRows.of(records), config, recent_from)
    _, _, defined, summed = _reference_count_pairs(records, config, recent_from)
    assert dict(counts.weights) == defined == summed
    assert any(w != int(w) for w in summed.values())  # the look-back factor was used


def test_count_pairs_uses_the_later_visit_of_a_pair_for_the_lookback_factor() -> None:
    def record(n: int, who: str, day: int) -> EncounterRecord:
        return EncounterRecord(
            f"Encounter/{n}", "Patient/p", None, "finished", START + timedelta(days=day),
            None, (who,), 0, None, None, None, None,
        )  # fmt: skip

    config = DerivationConfig()
    recent = START + timedelta(days=10)
    # x seen before the period, y after it: the later visit is recent
    counts = count_pairs(EncounterRows.of([record(1, "x", 1), record(2, "y", 11)]), config, recent)
    assert dict(counts.weights) == {("x", "y"): config.weight_shared_patient}
    # both before: look-back evidence only
    counts = count_pairs(EncounterRows.of([record(1, "x", 1), record(2, "y", 2)]), config, recent)
    assert dict(counts.weights) == {("x", "y"): config.weight_shared_patient * 0.25}
    # a third clinician seen late makes only their own pairs recent
    counts = count_pairs(
        EncounterRows.of([record(1, "x", 1), record(2, "y", 2), record(3, "z", 12)]), config, recent
    )
    assert counts.weights["x", "y"] == config.weight_shared_patient * 0.25
    assert counts.weights["x", "z"] == counts.weights["y", "z"] == config.weight_shared_patient


class _NoRoles:
    def roles_of(self, person: str) -> list[object]:
        return []


def test_home_contexts_and_profiles_keep_the_plurality_and_first_seen_order() -> None:
    records = _records(4, 60)
    config = DerivationConfig()
    homes = home_contexts(EncounterRows.of(records), _NoRoles(), config)  # type: ignore[arg-type]
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
    profiles = activity_profiles(EncounterRows.of(records))
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


def test_patients_counted_in_slices_give_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared patients are counted a slice of the patients at a time when their visit pairs
    are many; the slices partition the patients, so the counts are the same."""
    from fhir_microsystems.derive import network

    records = _records(5, 200)
    config = DerivationConfig()
    recent_from = START + timedelta(days=100)
    whole = count_pairs(EncounterRows.of(records), config, recent_from)
    monkeypatch.setattr(network, "SLICE_VISIT_PAIRS", 500)  # dozens of slices here
    sliced = count_pairs(EncounterRows.of(records), config, recent_from)
    assert sliced.table.equals(whole.table)
    assert sliced.patients


def test_a_window_with_fewer_than_two_clinicians_has_no_pairs() -> None:
    records = [r for r in _records(6, 30) if set(r.participants) <= {"Practitioner/000"}]
    assert records
    config = DerivationConfig()
    assert count_pairs(EncounterRows.of(records), config).table.num_rows == 0
    assert (
        count_pairs(EncounterRows.of(records), config).table.schema
        == count_pairs(EncounterRows.of(_records(6, 30)), config).table.schema
    )
    assert count_pairs(EncounterRows.empty(), config).weights == {}
