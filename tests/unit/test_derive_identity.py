"""Identity across periods: stable ids, events, stability, splits and merges."""

from __future__ import annotations

from fhir_microsystems.derive import DerivationConfig
from fhir_microsystems.derive.identity import jaccard, new_id

from .test_derive_world import World, at, team_visits

APRIL_END = at(1, 0, month=5)


def _ward(world: World, org: str, staff: list[str], month: int, tag: str) -> None:
    team_visits(
        world,
        staff,
        [world.patient(f"{tag}{month}-{i}") for i in range(4)],
        days=range(1, 28),
        provider=org,
        month=month,
    )


def test_microsystem_keeps_its_id_and_records_joins_and_leaves() -> None:
    world = World()
    org = world.org("w", "Ward")
    staff = [world.practitioner(f"s{i}") for i in range(6)]
    _ward(world, org, staff[:5], 3, "m")
    _ward(world, org, [*staff[1:5], staff[5]], 4, "a")
    result, _ = world.derive(end=APRIL_END)
    (march,) = result.microsystems["2025-03"]
    (april,) = result.microsystems["2025-04"]
    assert april.id == march.id
    assert april.first_period == "2025-03"
    assert {(e.kind, e.practitioner) for e in april.events} == {
        ("join", staff[5]),
        ("leave", staff[0]),
    }
    assert april.stability == 4 / 6
    assert march.stability is None and march.events == ()


def test_ids_are_deterministic_across_reruns() -> None:
    world = World()
    org = world.org("w", "Ward")
    staff = [world.practitioner(f"s{i}") for i in range(4)]
    _ward(world, org, staff, 3, "m")
    first, _ = world.derive()
    second, _ = world.derive()
    assert [m.id for m in first.microsystems["2025-03"]] == [
        m.id for m in second.microsystems["2025-03"]
    ]
    assert first.microsystems["2025-03"][0].id == new_id(org, "2025-03", frozenset(staff))


def test_split_keeps_the_id_on_the_larger_part_and_records_lineage() -> None:
    world = World()
    org = world.org("w", "Ward")
    staff = [world.practitioner(f"s{i}") for i in range(7)]
    _ward(world, org, staff, 3, "m")
    _ward(world, org, staff[:4], 4, "a")
    _ward(world, org, staff[4:], 4, "b")
    result, _ = world.derive(end=APRIL_END, config=DerivationConfig(lookback_days=0))
    (march,) = result.microsystems["2025-03"]
    april = {frozenset(m.members): m for m in result.microsystems["2025-04"]}
    big, small = april[frozenset(staff[:4])], april[frozenset(staff[4:])]
    assert big.id == march.id
    assert small.id != march.id
    assert small.split_from == (march.id,)
    assert {(e.kind, e.practitioner) for e in big.events} == {("leave", s) for s in staff[4:]}


def test_merge_records_merged_from() -> None:
    world = World()
    org = world.org("w", "Ward")
    staff = [world.practitioner(f"s{i}") for i in range(7)]
    _ward(world, org, staff[:4], 3, "a")
    _ward(world, org, staff[4:], 3, "b")
    _ward(world, org, staff, 4, "m")
    result, _ = world.derive(end=APRIL_END, config=DerivationConfig(lookback_days=0))
    march = {frozenset(m.members): m for m in result.microsystems["2025-03"]}
    (april,) = result.microsystems["2025-04"]
    assert april.id == march[frozenset(staff[:4])].id
    assert april.merged_from == (march[frozenset(staff[4:])].id,)


def test_a_quiet_month_does_not_lose_the_identity() -> None:
    world = World()
    org = world.org("w", "Ward")
    staff = [world.practitioner(f"s{i}") for i in range(4)]
    _ward(world, org, staff, 3, "m")
    _ward(world, org, staff, 5, "a")
    result, _ = world.derive(end=at(1, 0, month=6))
    assert result.microsystems["2025-04"] == []
    assert result.microsystems["2025-05"][0].id == result.microsystems["2025-03"][0].id
    assert result.microsystems["2025-05"][0].stability is None
    assert len(result.history(result.microsystems["2025-03"][0].id)) == 2


def test_jaccard() -> None:
    assert jaccard({"a", "b"}, {"b", "c"}) == 1 / 3
    assert jaccard(set(), set()) == 1.0


def test_a_microsystem_quiet_for_months_keeps_its_id_within_the_horizon() -> None:
    """Active in March, absent April to October (seven monthly periods), back in November
    with the same core: the same id (default horizon 12 months); a 3-month horizon gives
    a new one. With quarterly periods it is absent two quarters and keeps its id too."""
    world = World()
    org = world.org("w", "Ward")
    other = world.org("x", "Clinic")
    staff = [world.practitioner(f"s{i}") for i in range(4)]
    _ward(world, org, staff, 3, "m")
    _ward(world, org, staff, 11, "n")
    busy = [world.practitioner(f"b{i}") for i in range(3)]
    for month in range(3, 12):  # another unit keeps every period populated
        _ward(world, other, busy, month, f"b{month}-")
    end = at(1, 0, month=12)
    result, _ = world.derive(end=end)
    ids = {
        label: {m.id for m in items if staff[0] in m.members}
        for label, items in result.microsystems.items()
    }
    assert ids["2025-03"] == ids["2025-11"] and len(ids["2025-03"]) == 1
    assert all(not ids[f"2025-{m:02d}"] for m in range(4, 11))
    back = next(m for m in result.microsystems["2025-11"] if staff[0] in m.members)
    assert back.first_period == "2025-03" and back.stability is None
    short, _ = world.derive(DerivationConfig(identity_horizon_months=3), end=end)
    march = {m.id for m in short.microsystems["2025-03"] if staff[0] in m.members}
    november = {m.id for m in short.microsystems["2025-11"] if staff[0] in m.members}
    assert march.isdisjoint(november)
    quarters, _ = world.derive(
        start=at(1, 0, month=1), end=at(1, 0, month=1, year=2026), period="quarter"
    )
    by_quarter = {
        label: {m.id for m in items if staff[0] in m.members}
        for label, items in quarters.microsystems.items()
    }
    assert by_quarter["2025-Q1"] == by_quarter["2025-Q4"] and len(by_quarter["2025-Q1"]) == 1
    assert not by_quarter["2025-Q2"] and not by_quarter["2025-Q3"]
