"""Encounters and patients: every encounter attributed or counted with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

from fhir_microsystems.derive import derive
from fhir_microsystems.sources import ReferenceIndex

from .test_derive_world import World, at, team_visits


def _clinic(world: World) -> tuple[str, str, list[str]]:
    org = world.org("o", "Clinic")
    loc = world.location("l", "Clinic room", org)
    staff = [world.practitioner(f"s{i}") for i in range(3)]
    team_visits(world, staff, [world.patient("x")], days=range(1, 15), provider=org, location=loc)
    return org, loc, staff


def test_every_encounter_is_attributed_or_counted_with_a_reason() -> None:
    world = World()
    org, loc, staff = _clinic(world)
    patient = world.patient("y")
    by_location = world.encounter(patient, at(20), [], location=loc)
    by_provider = world.encounter(patient, at(21), [], provider=org)
    world.encounter(patient, at(22), [])
    world.encounter(
        patient, at(23), [], raw_participants=[{"individual": {"reference": "Practitioner/ghost"}}]
    )
    world.encounter(patient, at(2, month=2), staff)  # February: outside the period
    world.encounter(patient, at(24), staff, status="cancelled")
    world.encounter(patient, at(24), staff, status="entered-in-error")
    result, findings = world.derive()
    attribution = result.encounter_attribution["2025-03"]
    (item,) = result.microsystems["2025-03"]
    assert attribution[by_location] == item.id
    assert attribution[by_provider] == item.id
    assert result.unattributed == {
        "no-participants-no-context": 1,
        "unresolved-participants": 1,
        "outside-periods": 1,
        "status-cancelled": 1,
        "status-entered-in-error": 1,
    }
    assert result.encounters_attributed + result.unattributed.total() == 21
    assert result.stats["encounters-read"] == 21
    assert findings.counts["unresolved-reference"] == 1
    assert item.encounter_ids == frozenset(attribution)


def test_encounter_goes_to_the_microsystem_with_most_participants_as_members() -> None:
    world = World()
    org = world.org("o", "Medicine")
    a = [world.practitioner(f"a{i}") for i in range(4)]
    b = [world.practitioner(f"b{i}") for i in range(4)]
    team_visits(world, a, [world.patient("pa")], days=range(1, 20), provider=org)
    team_visits(world, b, [world.patient("pb")], days=range(1, 20), provider=org)
    mixed = world.encounter(world.patient("m"), at(25), [a[0], b[0], b[1]], provider=org)
    result, _ = world.derive()
    ward_b = next(m for m in result.microsystems["2025-03"] if b[0] in m.core_members)
    assert result.encounter_attribution["2025-03"][mixed] == ward_b.id


def test_patient_group_holds_every_patient_the_microsystem_served() -> None:
    world = World()
    org = world.org("o", "Medicine")
    a = [world.practitioner(f"a{i}") for i in range(3)]
    b = [world.practitioner(f"b{i}") for i in range(3)]
    team_visits(world, a, [world.patient("pa")], days=range(1, 20), provider=org)
    team_visits(world, b, [world.patient("pb")], days=range(1, 20), provider=org)
    plural, tied = world.patient("plural"), world.patient("tied")
    for day in (3, 4):
        world.encounter(plural, at(day), a, provider=org)
    world.encounter(plural, at(25), b, provider=org)
    world.encounter(tied, at(26), a, provider=org)
    world.encounter(tied, at(5), b, provider=org)
    result, _ = world.derive()
    team_a = next(m for m in result.microsystems["2025-03"] if a[0] in m.members)
    team_b = next(m for m in result.microsystems["2025-03"] if b[0] in m.members)
    # Seen by both: in both groups (a plurality rule left team B's group without them).
    assert plural in team_a.patients and plural in team_b.patients
    assert tied in team_a.patients and tied in team_b.patients
    assert "pa" not in {p.rsplit("/", 1)[-1] for p in team_b.patients}


def test_default_range_is_twelve_months_up_to_the_latest_encounter() -> None:
    world = World()
    org = world.org("o", "Clinic")
    doc = world.practitioner("d")
    world.encounter(world.patient("x"), datetime(2024, 1, 10, tzinfo=UTC), [doc], provider=org)
    world.encounter(
        world.patient("y"), datetime(2025, 6, 30, 23, 30, tzinfo=UTC), [doc], provider=org
    )
    source = world.source()
    result = derive(source, ReferenceIndex.build(source))
    assert (result.periods[0].label, result.periods[-1].label) == ("2024-07", "2025-06")
    assert result.unattributed == {"outside-periods": 1}
    assert result.encounters_attributed == 1


def test_quarter_periods() -> None:
    world = World()
    _clinic(world)
    result, _ = world.derive(start=at(1, 0, month=1), end=at(1, 0, month=7), period="quarter")
    assert [p.label for p in result.periods] == ["2025-Q1", "2025-Q2"]
    assert len(result.encounter_attribution["2025-Q1"]) == 14


def test_offsets_move_an_encounter_into_the_utc_month() -> None:
    world = World()
    org = world.org("o", "Clinic")
    doc = world.practitioner("d")
    enc = world.encounter(world.patient("x"), at(1), [doc], provider=org)
    world.resources["Encounter"][-1]["period"] = {"start": "2025-03-31T22:30:00-05:00"}
    result, _ = world.derive(end=at(1, 0, month=5))
    assert enc in result.encounter_attribution["2025-04"]
    assert result.encounters[enc].start == datetime(2025, 4, 1, 3, 30, tzinfo=UTC)


def test_bad_dates_are_findings_not_crashes() -> None:
    world = World()
    org = world.org("o", "Clinic")
    doc = world.practitioner("d")
    world.encounter(world.patient("x"), at(1), [doc], provider=org)
    world.resources["Encounter"][-1]["period"] = {"start": "yesterday"}
    result, findings = world.derive()
    assert findings.counts["invalid-datetime"] == 1
    assert result.unattributed == {"no-start": 1}


def test_a_stay_ending_in_a_later_period_counts_there_for_the_same_microsystem() -> None:
    """Ward A's stay runs from 20 March to 10 April; A starts nothing in April, so a
    continuation of A holds it there (with its patient), and identity ignores it: A keeps
    its id in May. Ward B's stay across the month end counts in B's own April version."""
    world = World()
    org_a, org_b = world.org("a", "Ward A"), world.org("b", "Ward B")
    a = [world.practitioner(f"a{i}") for i in range(3)]
    b = [world.practitioner(f"b{i}") for i in range(3)]
    team_visits(world, a, [world.patient("pa")], days=range(1, 20), provider=org_a)
    team_visits(world, a, [world.patient("pa")], days=range(1, 20), provider=org_a, month=5)
    for month in (3, 4):
        team_visits(world, b, [world.patient("pb")], days=range(1, 20), provider=org_b, month=month)
    long_a = world.encounter(
        world.patient("la"), at(20), a[:2], klass="IMP", provider=org_a, hours=21 * 24
    )
    long_b = world.encounter(
        world.patient("lb"), at(25), b[:2], klass="IMP", provider=org_b, hours=10 * 24
    )
    result, _ = world.derive(end=at(1, 0, month=6))
    march = {m.organization: m for m in result.microsystems["2025-03"]}
    april = {m.organization: m for m in result.microsystems["2025-04"]}
    may = {m.organization: m for m in result.microsystems["2025-05"]}
    assert long_a in march[org_a].encounter_ids and long_b in march[org_b].encounter_ids
    cont = april[org_a]
    assert cont.continuation and cont.id == march[org_a].id
    assert cont.ending_ids == {long_a} and not cont.encounter_ids
    assert cont.patients == {"Patient/la"} and cont.stability is None
    assert set(cont.members) == set(a[:2]) and not cont.core_members
    assert not april[org_b].continuation and april[org_b].ending_ids == {long_b}
    assert "Patient/lb" in april[org_b].patients
    assert result.ending_attribution["2025-04"] == {long_a: cont.id, long_b: april[org_b].id}
    assert may[org_a].id == march[org_a].id and not may[org_a].continuation
    assert may[org_a].stability is None  # not compared with the continuation
