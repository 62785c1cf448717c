"""Continuity across periods: team attachment, identity tie-breaks, shift joins, names."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from fhir_microsystems.derive import DerivationConfig, derive
from fhir_microsystems.derive.accuracy import GroundTruth, active_practitioners, ari_for
from fhir_microsystems.derive.careteams import ExplicitMember, ExplicitTeam
from fhir_microsystems.derive.identity import (
    DraftView,
    Known,
    assign_identities,
    weighted_overlap,
)
from fhir_microsystems.derive.joining import Cluster, _Profile, join_by_careteams, join_shifts
from fhir_microsystems.derive.model import Member
from fhir_microsystems.periods import split_periods
from fhir_microsystems.sources import NdjsonSource, ReferenceIndex

from .test_derive_world import at

synth = pytest.importorskip("fhir_microsystems.synth.generator")
synth_config = pytest.importorskip("fhir_microsystems.synth.config")

MARCH = split_periods(at(1, 0), at(1, 0, month=4), "month")[0]
CONFIG = DerivationConfig()


def _members(counts: dict[str, tuple[int, bool]]) -> dict[str, Member]:
    total = sum(n for n, _ in counts.values())
    return {
        p: Member(p, core, None, None, None, n, n / total, "inferred")
        for p, (n, core) in counts.items()
    }


def _known(ident: str, counts: dict[str, tuple[int, bool]], team: str | None) -> Known:
    members = _members(counts)
    basis = frozenset(p for p, m in members.items() if m.core)
    return Known(ident, basis, members, 0, "2025-02", team, "Organization/o")


def _draft(counts: dict[str, tuple[int, bool]], team: str | None) -> DraftView:
    members = _members(counts)
    basis = frozenset(p for p, m in members.items() if m.core)
    return DraftView("Organization/o", basis, members, team)


def _team(key: str, people: list[str]) -> ExplicitTeam:
    return ExplicitTeam(
        key,
        "active",
        None,
        None,
        "Organization/o",
        key.split("/")[1],
        tuple(ExplicitMember(p, None, None, None) for p in people),
    )


def test_equal_jaccard_is_broken_by_the_explicit_careteam() -> None:
    red = _known("ms-a", {"p": (10, True), "q": (10, True)}, "CareTeam/red")
    blue = _known("ms-b", {"p": (10, True), "r": (10, True)}, "CareTeam/blue")
    draft = _draft({"p": (10, True), "r": (2, False)}, "CareTeam/blue")
    (ident,) = assign_identities([draft], {"ms-a": red, "ms-b": blue}, 1, "2025-03", CONFIG)
    assert ident.id == "ms-b"


def test_same_careteam_keeps_the_id_when_the_core_changed_much() -> None:
    before = _known("ms-a", {f"s{i}": (10, True) for i in range(4)}, "CareTeam/red")
    draft = _draft(
        {"s0": (10, True), "n1": (10, True), "n2": (10, True), "n3": (10, True)}, "CareTeam/red"
    )
    (kept,) = assign_identities([draft], {"ms-a": before}, 1, "2025-03", CONFIG)
    assert kept.id == "ms-a"
    off = DerivationConfig(identity_by_careteam=False, identity_min_weighted_overlap=1.0)
    (fresh,) = assign_identities([draft], {"ms-a": before}, 1, "2025-03", off)
    assert fresh.id != "ms-a"


def test_weighted_overlap_keeps_a_small_team_whose_core_shrank() -> None:
    before = _known("ms-a", {"p": (10, True), "q": (10, True)}, None)
    draft = _draft({"p": (10, True), "q": (8, False), "n1": (3, True), "n2": (3, True)}, None)
    # Jaccard {p,q} vs {p,n1,n2} = 1/4 < 0.3; weighted: min(.5, 10/24) + min(.5, 8/24) = .75
    assert weighted_overlap(draft.members, before.members) == pytest.approx(0.75)
    (kept,) = assign_identities([draft], {"ms-a": before}, 1, "2025-03", CONFIG)
    assert kept.id == "ms-a"
    off = DerivationConfig(identity_min_weighted_overlap=1.0)
    (fresh,) = assign_identities([draft], {"ms-a": before}, 1, "2025-03", off)
    assert fresh.id != "ms-a"


def test_back_after_a_quiet_month_is_not_a_join() -> None:
    before = Known(
        "ms-a",
        frozenset({"p", "q"}),
        _members({"p": (10, True), "q": (10, True)}),
        1,
        "2025-02",
        earlier=frozenset({"p", "q", "r"}),
    )
    draft = _draft({"p": (10, True), "q": (10, True), "r": (10, True), "s": (10, True)}, None)
    (ident,) = assign_identities([draft], {"ms-a": before}, 2, "2025-04", CONFIG)
    assert {(e.kind, e.practitioner) for e in ident.events} == {("join", "s")}


def test_a_partial_careteam_does_not_name_the_cluster_holding_one_of_its_two() -> None:
    ed = {f"e{i}" for i in range(18)} | {"w0"}
    ward = {f"w{i}" for i in range(1, 9)}
    clusters = [Cluster(set(ed), ("Organization/o", None)), Cluster(set(ward), ("o", None))]
    ward_team = _team("CareTeam/ward", ["w0", "w1"])  # partial roster, one in the ED cluster
    ed_team = _team("CareTeam/ed", [f"e{i}" for i in range(10)])
    out = join_by_careteams(clusters, [ward_team, ed_team], MARCH, CONFIG)
    assert len(out) == 2
    by_team = {c.team.key if c.team else None: c.practitioners for c in out}
    assert by_team["CareTeam/ed"] == ed
    assert by_team["CareTeam/ward"] == ward


def test_a_community_listed_equally_by_two_teams_is_pulled_into_neither() -> None:
    red, blue = {"r1", "r2", "r3"}, {"b1", "b2", "b3", "r4"}
    clusters = [Cluster(set(red), ("o", None)), Cluster(set(blue), ("o", None))]
    red_team = _team("CareTeam/red", ["r1", "r2", "r3", "r4", "b1"])  # stale: r4 moved
    blue_team = _team("CareTeam/blue", ["b1", "b2"])
    out = join_by_careteams(clusters, [red_team, blue_team], MARCH, CONFIG)
    assert sorted(sorted(c.practitioners) for c in out) == [sorted(blue), sorted(red)]
    assert {c.team.key for c in out if c.team} == {"CareTeam/red", "CareTeam/blue"}


def test_shifts_of_last_periods_microsystem_join_with_the_looser_hour_limit() -> None:
    day, night = {"d1", "d2"}, {"n1", "n2"}

    def profile(hours: dict[int, int]) -> _Profile:
        total = sum(hours.values())
        return _Profile(
            hours=Counter(hours),
            places=Counter({"ed": total}),
            classes=Counter({"EMER": total}),
            encounters=total,
        )

    # Overlap of the hour distributions: 0.4 (above 0.35, within 0.5).
    profiles = {p: profile({9: 8, 21: 2}) for p in day} | {p: profile({21: 8, 9: 2}) for p in night}

    def clusters() -> list[Cluster]:
        return [Cluster(set(day), ("o", None)), Cluster(set(night), ("o", None))]

    assert len(join_shifts(clusters(), profiles, CONFIG)) == 2
    previous = dict.fromkeys(day | night, "ms-ed")
    assert len(join_shifts(clusters(), profiles, CONFIG, previous)) == 1
    split = {"d1": "ms-a", "d2": "ms-a", "n1": "ms-b", "n2": "ms-b"}
    assert len(join_shifts(clusters(), profiles, CONFIG, split)) == 2


def test_demo_hospital_keeps_one_name_per_id_and_one_ed(tmp_path: Path) -> None:
    synth.generate(
        tmp_path,
        seed=7,
        patients=1000,
        start=date(2025, 1, 1),
        months=6,
        config=synth_config.SynthConfig(noise=0.1),
    )
    source = NdjsonSource(tmp_path)
    result = derive(source, ReferenceIndex.build(source))
    truth = GroundTruth.from_json(json.loads((tmp_path / "ground-truth.json").read_text()))
    months = [p for p in result.periods if p.label in truth.core]
    assert len(months) == 6
    names: dict[str, set[str]] = defaultdict(set)
    ed_ids = set()
    for period in months:
        items = result.microsystems[period.label]
        for item in items:
            names[item.id].add(item.name)
        ed = [m for m in items if m.name.startswith("Emergency Department")]
        assert len(ed) == 1, period.label
        ed_ids.add(ed[0].id)
        records = list(result.encounters.values())
        core = truth.core[period.label]
        ari = ari_for(
            core, result.primary_microsystem(period.label), active_practitioners(records, period)
        )
        assert ari >= 0.95, period.label
    assert len(ed_ids) == 1
    assert all(len(n) == 1 for n in names.values()), names
    # one id per ground-truth microsystem over the six months
    assert len(names) == len(set(truth.core[months[0].label].values()))
