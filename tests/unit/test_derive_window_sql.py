"""The derivation's SQL over a window of rows (``window.sql``): each rule's ties, by hand.

Every expected value below is worked out from the rule in the docstring of the function
under test, not from the SQL: which microsystem wins a vote, which place a fallback goes
by, which cluster an encounter counts for and what each cluster's tally holds.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from fhir_microsystems.derive import DerivationConfig, EncounterRecord, Member, MicrosystemPeriod
from fhir_microsystems.derive.attribution import attribute_encounters, attribute_patients, cohorts
from fhir_microsystems.derive.cohorts import ConditionSpell, Spells
from fhir_microsystems.derive.joining import Cluster
from fhir_microsystems.derive.membership import _tallies
from fhir_microsystems.derive.network import home_contexts
from fhir_microsystems.derive.pipeline import classified
from fhir_microsystems.derive.records import EncounterRows
from fhir_microsystems.periods import Period, split_periods

T0 = datetime(2025, 3, 1, 8, tzinfo=UTC)
PERIOD = Period.parse("2025-03")


def _rec(
    key: str,
    people: tuple[str, ...] = (),
    *,
    day: int = 1,
    patient: str | None = "Patient/p",
    klass: str | None = "AMB",
    status: str = "finished",
    location: str | None = None,
    context: str | None = None,
    provider: str | None = None,
    unresolved: int = 0,
) -> EncounterRecord:
    start = T0 + timedelta(days=day)
    return EncounterRecord(
        f"Encounter/{key}", patient, klass, status, start, start + timedelta(hours=1),
        people, unresolved, provider, location, context, None,
    )  # fmt: skip


def _member(person: str, core: bool) -> Member:
    return Member(person, core, None, None, None, 1, 0.5, "inferred")


def _ms(
    ident: str,
    members: dict[str, bool],
    *,
    org: str | None = None,
    loc: str | None = None,
    team: str | None = None,
) -> MicrosystemPeriod:
    return MicrosystemPeriod(
        ident, PERIOD, org, loc, ident, {p: _member(p, core) for p, core in members.items()},
        frozenset(), frozenset(), team, None, (), (), (), "2025-03",
    )  # fmt: skip


def test_votes_then_core_then_organisation_location_team_and_id_break_ties() -> None:
    systems = [
        _ms("z-most", {"a": False, "b": False}),
        _ms("y-one", {"c": True}),
        _ms("b-core", {"d": True}),
        _ms("a-plain", {"d": False, "e": False}),
        _ms("m-org", {"f": False}, org="Organization/o"),
        _ms("c-other", {"f": False}, org="Organization/x"),
        _ms("n-loc", {"g": False}, loc="Location/l"),
        _ms("d-none", {"g": False}),
        _ms("q-team", {"h": False}, team="CareTeam/t"),
        _ms("e-no-team", {"h": False}),
        _ms("k", {"i": False}),
        _ms("j", {"i": False}),
    ]
    rows = EncounterRows.of(
        [
            _rec("votes", ("a", "b", "c")),  # 2 votes beat 1 core vote
            _rec("core", ("d",)),  # 1 vote each: the core member's microsystem
            _rec("org", ("f",), context="Organization/o"),
            _rec("loc", ("g",), location="Location/l"),
            _rec("team", ("h",)),
            _rec("id", ("i",)),
        ]
    )
    attribution, missing = attribute_encounters(rows, systems)
    assert attribution == {
        "Encounter/votes": "z-most",
        "Encounter/core": "b-core",
        "Encounter/org": "m-org",
        "Encounter/loc": "n-loc",
        "Encounter/team": "q-team",
        "Encounter/id": "j",
    }
    assert missing == Counter()


def test_without_members_an_encounter_goes_by_location_then_context_then_provider() -> None:
    systems = [_ms("one", {"a": False}), _ms("two", {"b": False})]
    rows = EncounterRows.of(
        [
            # what the attributed encounters hold at each place
            _rec("a1", ("a",), location="Location/l", context="Organization/c"),
            _rec("b1", ("b",), location="Location/l", context="Organization/c"),
            _rec("b2", ("b",), location="Location/m", context="Organization/c"),
            _rec("a2", ("a",), provider="Organization/p"),
            # the ones without a member among their participants
            _rec("at-l", ("stranger",), location="Location/l"),  # 1 each at l: lower id
            _rec("at-m", (), location="Location/m", context="Organization/q"),
            _rec("at-c", (), location="Location/none", context="Organization/c"),
            _rec("at-p", (), provider="Organization/p", context="Organization/none"),
            _rec("lost", ("stranger",), location="Location/none"),
            _rec("ghost", (), unresolved=1),
            _rec("nothing", ()),
        ]
    )
    attribution, missing = attribute_encounters(rows, systems)
    assert list(attribution.items())[4:] == [  # (by place: after those by participants)
        ("Encounter/at-l", "one"),
        ("Encounter/at-m", "two"),
        ("Encounter/at-c", "two"),  # two holds 2 of the 3 at Organization/c
        ("Encounter/at-p", "one"),
    ]
    assert missing == Counter(
        {
            "participants-not-members": 1,
            "unresolved-participants": 1,
            "no-participants-no-context": 1,
        }
    )


def test_patient_groups_and_setting_cohorts_count_attributed_encounters() -> None:
    rows = EncounterRows.of(
        [
            _rec("1", patient="Patient/x", klass="EMER"),
            _rec("2", patient="Patient/x", klass="AMB"),
            _rec("3", patient="Patient/y", klass="IMP"),
            _rec("4", patient="Patient/z", klass="IMP"),  # not attributed
            _rec("5", patient=None, klass="IMP"),
        ]
    )
    attribution = {"Encounter/1": "s", "Encounter/2": "s", "Encounter/3": "t", "Encounter/5": "t"}
    assert attribute_patients(rows, attribution, DerivationConfig()) == {
        "s": {"Patient/x"},
        "t": {"Patient/y"},
    }
    twice = DerivationConfig(patient_min_encounters=2)
    assert attribute_patients(rows, attribution, twice) == {"s": {"Patient/x"}}
    groups = cohorts({"s": {"Patient/x"}}, rows, attribution, Spells.of([]), PERIOD)
    assert groups["s"]["ed-attenders"] == groups["s"]["ambulatory"] == {"Patient/x"}
    assert groups["s"]["inpatients"] == frozenset()
    assert groups["t"]["inpatients"] == {"Patient/y"}
    assert groups["t"]["attributed"] == frozenset()  # no group given for t


def test_condition_cohorts_hold_group_patients_with_a_spell_overlapping_the_period() -> None:
    start, end = PERIOD.start, PERIOD.end  # [2025-03-01, 2025-04-01)
    second = timedelta(seconds=1)
    spells = Spells.of(
        [
            # a: onset the instant the period ends: [end, ...) misses it
            ("Patient/a", [ConditionSpell("diabetes", end, None)]),
            # b: abated the instant the period starts: [..., start) misses it
            ("Patient/b", [ConditionSpell("diabetes", None, start)]),
            # c: a second inside at each edge, and an open spell of another cohort
            ("Patient/c", [ConditionSpell("diabetes", end - second, None)]),
            ("Patient/c", [ConditionSpell("cancer", None, None)]),
            ("Patient/d", [ConditionSpell("diabetes", None, start + second)]),
            # e: a spell wholly before the period, then one wholly after it
            ("Patient/e", [ConditionSpell("hypertension", start - 2 * second, start - second)]),
            ("Patient/e", [ConditionSpell("hypertension", end, end + second)]),
            # f: in no group of the period
            ("Patient/f", [ConditionSpell("diabetes", None, None)]),
        ]
    )
    groups = {
        "s": {"Patient/a", "Patient/b", "Patient/c", "Patient/e"},
        "t": {"Patient/c", "Patient/d"},
    }
    found = cohorts(groups, EncounterRows.of([]), {}, spells, PERIOD)
    assert found["s"]["diabetes"] == {"Patient/c"}
    assert found["s"]["cancer"] == {"Patient/c"}
    assert "hypertension" not in found["s"]
    assert found["t"]["diabetes"] == {"Patient/c", "Patient/d"}
    assert found["t"]["cancer"] == {"Patient/c"}
    assert found["s"]["attributed"] == groups["s"]
    assert all("Patient/f" not in ids for ms in found.values() for ids in ms.values())


def test_cluster_tallies_follow_the_preliminary_vote() -> None:
    clusters = [
        Cluster({"a", "b"}, ("Organization/o", None)),
        Cluster({"c"}, ("Organization/x", None)),
        Cluster({"d"}, ("Organization/o", None)),
        Cluster({"e"}, ("Organization/o", None)),
    ]
    clusters[3].team = object()  # type: ignore[assignment]  # (only whether it has one)
    rows = EncounterRows.of(
        [
            _rec("1", ("a", "b", "c"), day=1, context="Organization/x", location="Location/1"),
            _rec("2", ("a", "c"), day=2, context="Organization/x", location="Location/2"),
            _rec("3", ("a", "d"), day=3, context="Organization/o", location="Location/2"),
            _rec("4", ("d", "e"), day=4, context="Organization/o"),
            _rec("5", ("stranger",), day=5),
        ]
    )
    tallies = _tallies(rows, clusters)
    # 1: 2 votes for cluster 0; 2: one each, cluster 1 is of the encounter's organisation;
    # 3: one each, both of it: the lower number; 4: one each: the one with a team
    assert [t.encounters for t in tallies] == [2, 1, 0, 1]
    assert tallies[0].per_person == {"a": 2, "b": 1, "c": 1, "d": 1}
    assert tallies[0].first["a"] == T0 + timedelta(days=1)
    assert tallies[0].last["a"] == T0 + timedelta(days=3)
    assert tallies[0].context == "Organization/o"  # one each: the lower key
    assert tallies[0].location == "Location/1"
    assert (tallies[1].context, tallies[1].location) == ("Organization/x", "Location/2")
    assert tallies[3].per_person == {"d": 1, "e": 1} and tallies[3].location is None


def test_cluster_tallies_place_a_cluster_where_most_of_its_encounters_are() -> None:
    rows = EncounterRows.of(
        [
            _rec("1", ("a",), day=1, context="Organization/a", location="Location/1"),
            _rec("2", ("a",), day=2, context="Organization/z", location="Location/9"),
            _rec("3", ("a",), day=3, context="Organization/z", location="Location/9"),
        ]
    )
    [tally] = _tallies(rows, [Cluster({"a"}, (None, None))])
    # the most encounters win over the lower key
    assert (tally.encounters, tally.context, tally.location) == (3, "Organization/z", "Location/9")


class _Roles:
    def roles_of(self, person: str) -> list[object]:
        return []


def test_home_contexts_break_ties_by_the_pair_as_text() -> None:
    rows = EncounterRows.of(
        [
            _rec("1", ("a",), context="Organization/b"),
            _rec("2", ("a",), context="Organization/a"),
            _rec("3", ("b",), location="Location/l"),  # (None, None) without locations
            _rec("4", ("b",), context="Organization/z"),
            _rec("5", ("c",)),
            _rec("6", ("d",), context="Organization/a"),
            _rec("7", ("d",), context="Organization/z"),
            _rec("8", ("d",), context="Organization/z"),
        ]
    )
    homes = home_contexts(rows, _Roles(), DerivationConfig())  # type: ignore[arg-type]
    # a: "('Organization/a', None)" < "('Organization/b', None)"; b: one encounter each
    # at (None, None) and at z, and "('Organization/z', None)" < "(None, None)" ("'" < "N")
    assert homes == {
        "a": ("Organization/a", None),
        "b": ("Organization/z", None),
        "c": (None, None),
        "d": ("Organization/z", None),  # most encounters first, then the text
    }
    by_location = DerivationConfig(context_by_location=True)
    homes = home_contexts(rows, _Roles(), by_location)  # type: ignore[arg-type]
    assert homes["b"] == ("Organization/z", None)  # "('" < "(N"


def test_classified_counts_each_reason_and_keeps_the_lookback() -> None:
    periods = split_periods(T0.replace(hour=0), T0.replace(month=5, hour=0), "month")
    records = [
        _rec("in", day=3),
        _rec("cancelled", day=3, status="cancelled"),
        _rec("lookback", day=-10),  # within the 30 days before the first period
        _rec("too-early", day=-40),
        _rec("too-late", day=70),
    ]
    nostart = EncounterRecord(
        "Encounter/nostart", None, None, "finished", None, None, (), 0, None, None, None, None
    )
    usable, reasons = classified(EncounterRows.of([*records, nostart]), periods, DerivationConfig())
    assert usable.table["key"].to_pylist() == ["Encounter/lookback", "Encounter/in"]
    assert reasons == Counter({"status-cancelled": 1, "outside-periods": 3, "no-start": 1})
    none, reasons = classified(EncounterRows.of(records), [], DerivationConfig())
    assert len(none) == 0
    assert reasons == Counter({"status-cancelled": 1, "outside-periods": 4})


def test_starting_slices_a_window_at_its_bounds_without_copying() -> None:
    rows = EncounterRows.of([_rec(str(day), day=day) for day in range(5)])  # in record order
    lo, hi = T0 + timedelta(days=1), T0 + timedelta(days=3)
    inside = rows.starting(lo, hi)
    assert inside.table["key"].to_pylist() == ["Encounter/1", "Encounter/2"]  # lo in, hi out
    assert rows.starting(hi).table["key"].to_pylist() == ["Encounter/3", "Encounter/4"]
    assert len(rows.starting(hi, lo)) == 0
    assert len(rows.starting(T0 + timedelta(days=9))) == 0
    assert inside.table["key"].chunks[0].buffers()[2].address == (
        rows.table["key"].chunks[0].buffers()[2].address
    )  # (a slice shares the string data)
