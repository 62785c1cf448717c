"""Who forms each microsystem: the real-data traps, with known answers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems.derive import DerivationConfig

from .test_derive_world import World, at, memberships, team_visits


def _two_wards(world: World, *, shared_location: bool) -> tuple[list[str], list[str], str]:
    hospital = world.org("h", "Hospital")
    medicine = world.org("med", "Department of Medicine", part_of=hospital)
    floor = world.location("floor", "Floor 3", medicine)
    ward_b_loc = floor if shared_location else world.location("wb", "Ward B", medicine)
    a = [world.practitioner(f"a{i}", org=medicine) for i in range(5)]
    b = [world.practitioner(f"b{i}", org=medicine) for i in range(5)]
    pa = [world.patient(f"pa{i}") for i in range(6)]
    pb = [world.patient(f"pb{i}") for i in range(6)]
    team_visits(world, a, pa, days=range(1, 29), provider=medicine, location=floor)
    team_visits(world, b, pb, days=range(1, 29), provider=medicine, location=ward_b_loc)
    return a, b, medicine


@pytest.mark.parametrize("shared_location", [True, False])
def test_two_wards_under_one_department_stay_apart(shared_location: bool) -> None:
    world = World()
    a, b, medicine = _two_wards(world, shared_location=shared_location)
    result, _ = world.derive()
    assert memberships(result) == {frozenset(a), frozenset(b)}
    assert {m.organization for m in result.microsystems["2025-03"]} == {medicine}
    for item in result.microsystems["2025-03"]:
        assert all(m.core for m in item.members.values())
        assert len(item.encounter_ids) == 28


def test_primary_care_teams_in_one_building_found_through_shared_patients() -> None:
    world = World()
    practice = world.org("pc", "Riverside Family Practice")
    building = world.location("bldg", "Clinic Building", practice)
    teams = [
        [world.practitioner(f"t{t}g", org=practice), world.practitioner(f"t{t}n")] for t in range(3)
    ]
    for t, (gp, nurse) in enumerate(teams):
        for i in range(8):
            patient = world.patient(f"t{t}p{i}")
            # single-clinician visits: GP one day, nurse a week later
            world.encounter(patient, at(1 + i, 9), [gp], provider=practice, location=building)
            world.encounter(patient, at(8 + i, 14), [nurse], provider=practice, location=building)
    result, _ = world.derive()
    assert memberships(result) == {frozenset(team) for team in teams}
    names = sorted(m.name for m in result.microsystems["2025-03"])
    assert len(set(names)) == 3  # told apart although they share organisation and location


def _ed(world: World) -> tuple[list[str], list[str], str]:
    ed = world.org("ed", "Emergency Department")
    bay = world.location("ed-loc", "ED", ed)
    day = [world.practitioner(f"d{i}", org=ed) for i in range(4)]
    night = [world.practitioner(f"n{i}", org=ed) for i in range(4)]
    for n in range(1, 29):
        for staff, hour in ((day, 10), (night, 23)):
            crew = [staff[(n + k) % 4] for k in range(3)]
            patient = world.patient(f"p{hour}-{n}")
            world.encounter(patient, at(n, hour), crew, klass="EMER", provider=ed, location=bay)
    return day, night, ed


def test_ed_day_and_night_shifts_are_one_microsystem() -> None:
    world = World()
    day, night, _ = _ed(world)
    result, _ = world.derive()
    assert memberships(result) == {frozenset(day + night)}


def test_without_shift_joining_the_shifts_fall_apart() -> None:
    world = World()
    day, night, _ = _ed(world)
    result, _ = world.derive(DerivationConfig(join_shifts=False))
    assert memberships(result) == {frozenset(day), frozenset(night)}


def test_ed_shifts_joined_by_an_explicit_careteam() -> None:
    world = World()
    day, night, ed = _ed(world)
    team = world.careteam("ed-team", day + night, org=ed, name="ED staff")
    result, _ = world.derive(DerivationConfig(join_shifts=False))
    (item,) = result.microsystems["2025-03"]
    assert set(item.members) == set(day + night)
    assert item.explicit_careteam == team
    assert item.name == "ED staff"
    assert {m.evidence for m in item.members.values()} == {"both"}


def test_wards_with_complementary_hours_but_different_locations_are_not_joined() -> None:
    world = World()
    org = world.org("med", "Medicine")
    loc_a, loc_b = world.location("la", "A", org), world.location("lb", "B", org)
    a = [world.practitioner(f"a{i}") for i in range(4)]
    b = [world.practitioner(f"b{i}") for i in range(4)]
    team_visits(
        world, a, [world.patient("x")], days=range(1, 29), hour=9, provider=org, location=loc_a
    )
    team_visits(
        world, b, [world.patient("y")], days=range(1, 29), hour=21, provider=org, location=loc_b
    )
    result, _ = world.derive()
    assert memberships(result) == {frozenset(a), frozenset(b)}


def test_practitioner_roles_resolve_to_practitioners() -> None:
    world = World()
    org = world.org("o", "Clinic")
    roles = [world.practitioner(f"p{i}", org=org, role=True) for i in range(3)]
    team_visits(world, roles, [world.patient("x")], days=range(1, 20), provider=org)
    result, _ = world.derive()
    assert memberships(result) == {
        frozenset({"Practitioner/p0", "Practitioner/p1", "Practitioner/p2"})
    }
    member = result.microsystems["2025-03"][0].members["Practitioner/p0"]
    assert member.discipline is not None and member.discipline.code == "163W00000X"


def test_floater_is_an_occasional_member_of_the_ward_it_covers() -> None:
    world = World()
    a, _, medicine = _two_wards(world, shared_location=False)
    floater = world.practitioner("f")
    world.encounter(
        world.patient("pf"), at(15), [floater, a[0], a[1]], klass="IMP", provider=medicine
    )
    result, _ = world.derive()
    ward_a = next(m for m in result.microsystems["2025-03"] if a[0] in m.members)
    assert ward_a.members[floater].core is False
    assert ward_a.members[floater].encounters == 1
    assert ward_a.members[a[0]].core is True
    assert floater not in ward_a.core_members


def test_core_threshold_is_configurable() -> None:
    world = World()
    org = world.org("o", "Clinic")
    staff = [world.practitioner(f"p{i}") for i in range(3)]
    team_visits(world, staff, [world.patient("x")], days=range(1, 5), provider=org)
    result, _ = world.derive(DerivationConfig(core_min_encounters=3))
    assert result.microsystems["2025-03"][0].core_members == frozenset(staff)
    result, _ = world.derive(DerivationConfig(core_min_encounters=5))
    assert result.microsystems["2025-03"][0].core_members == frozenset()


def test_explicit_team_members_without_encounters_are_occasional_explicit_members() -> None:
    world = World()
    org = world.org("onc", "Oncology")
    staff = [world.practitioner(f"p{i}") for i in range(3)]
    idle = world.practitioner("idle")
    team_visits(world, staff, [world.patient("x")], days=range(1, 20), provider=org)
    world.careteam("onc-team", [*staff, idle], org=org)
    result, _ = world.derive(DerivationConfig(include_idle_explicit_members=True))
    (item,) = result.microsystems["2025-03"]
    assert item.members[idle].evidence == "explicit"
    assert item.members[idle].core is False
    assert item.members[staff[0]].evidence == "both"
    result, _ = world.derive()
    assert idle not in result.microsystems["2025-03"][0].members
    assert result.stats["explicit-members-idle"] == 1


@pytest.mark.parametrize(
    ("status", "end"),
    [
        ("inactive", None),
        ("inactive", "2025-02-01"),
        ("active", "2025-01-31"),
        ("entered-in-error", None),
    ],
)
def test_stale_careteams_are_ignored(status: str, end: str | None) -> None:
    world = World()
    day, night, ed = _ed(world)
    world.careteam("old", day + night, org=ed, status=status, start="2024-01-01", end=end)
    result, _ = world.derive(DerivationConfig(join_shifts=False))
    assert len(result.microsystems["2025-03"]) == 2
    assert all(m.explicit_careteam is None for m in result.microsystems["2025-03"])


def test_patient_careteams_are_not_team_evidence() -> None:
    world = World()
    day, night, ed = _ed(world)
    world.careteam("pt", [day[0], night[0]], org=ed, subject=world.patient("someone"))
    result, _ = world.derive(DerivationConfig(join_shifts=False))
    assert result.stats["careteam-not-a-team"] == 1
    assert len(result.microsystems["2025-03"]) == 2


def test_config_rejects_out_of_range_shares() -> None:
    with pytest.raises(ConfigurationError):
        DerivationConfig(core_min_share=1.5)
    with pytest.raises(ConfigurationError):
        replace(DerivationConfig(), lookback_days=-1)
