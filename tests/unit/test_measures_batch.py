"""Contexts computed in one batch (one set of fact tables) keep to their own facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import (
    EncounterCounts,
    FactTables,
    Timelines,
    compute_batch,
    encounter_counts,
    fact_tables,
    own_encounter_counts,
)
from fhir_microsystems.pipeline._columns import from_parquet, to_parquet
from tests.unit.test_measures_support import context, enc, obs, person, timelines

APRIL = (datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 5, 1, tzinfo=UTC))


def test_two_contexts_in_one_batch_see_only_their_own_encounters_and_period() -> None:
    march_stay = enc("e1", "2025-03-10T10:00:00Z", "2025-03-10T11:00:00Z", patient="Patient/p1")
    no_start = enc("e2", None, "2025-03-12T11:00:00Z", patient="Patient/p1")
    april_stay = enc("e3", "2025-04-02T08:00:00Z", "2025-04-02T10:00:00Z", patient="Patient/p2")
    march = context([march_stay, no_start], ["Patient/p1"])
    april = context([april_stay, march_stay], ["Patient/p1"], period=APRIL)
    reading = obs("o1", "bp-panel", "2025-03-10T10:30:00Z", systolic=130, diastolic=80)
    lines = timelines([march_stay, no_start, april_stay], [reading])
    patients = {
        "Patient/p1": person("Patient/p1", gender="female", born="1950-01-01"),
        "Patient/p2": person("Patient/p2", gender="male", born="2000-01-01"),
    }
    findings = Findings()

    first, second = (
        {r.measure: r for r in results}
        for results in compute_batch([march, april], lines, patients, findings=findings)
    )

    los = first["ed-length-of-stay"].groups[0]
    assert los.score == 60.0
    assert los.observations == (("Encounter/e1", 60.0),)
    assert los.population("initial-population").members == ("Encounter/e1", "Encounter/e2")
    assert [(s.stratifier, s.value) for s in los.strata] == [
        ("age-band", "65+"),
        ("gender", "female"),
    ]
    assert second["ed-length-of-stay"].groups[0].observations == (("Encounter/e3", 120.0),)
    assert first["bp-control"].score == 1.0
    assert second["bp-control"].score is None  # the March reading is outside April
    assert second["bp-control"].groups[0].population("initial-population").count == 1
    assert first["volume"].groups[0].population("initial-population").members == ("Encounter/e1",)
    assert second["volume"].groups[0].population("initial-population").members == ("Encounter/e3",)
    assert [(f.kind, f.where) for f in findings.items] == [("missing-field", "Encounter/e2")]


def test_fact_tables_handed_over_as_parquet_give_the_same_results_and_counts() -> None:
    """The pipeline's hand-off: the derive stage builds the fact tables, the measure stage
    reads them back from Parquet with contexts that carry no encounters."""
    stays = [
        enc("e1", "2025-03-10T10:00:00Z", "2025-03-10T11:00:00Z", patient="Patient/p1",
            practitioners=("Practitioner/a", "Practitioner/x", "Practitioner/a")),
        enc("e2", "2025-03-12T10:00:00Z", None, patient="Patient/p2", practitioners=()),
        enc("e3", "2025-03-13T10:00:00Z", "2025-03-13T12:00:00Z", patient="Patient/p2",
            status="cancelled"),
        enc("e4", "2025-02-27T10:00:00Z", "2025-03-01T12:00:00Z", patient="Patient/p1"),
        enc("e5", "2025-03-20T10:00:00Z", None, patient="Patient/p1", status="in-progress",
            practitioners=("Practitioner/b", "Practitioner/c")),
    ]  # fmt: skip
    march = context(stays, ["Patient/p1", "Patient/p2"])
    april = context([], ["Patient/p2"], period=APRIL)
    lines = timelines(stays, [])
    patients = {"Patient/p1": person("Patient/p1", gender="female", born="1950-01-01")}
    tables = fact_tables([march, april], lines, patients)
    back = FactTables(**{name: from_parquet(to_parquet([table])) for name, table in tables.named()})
    bare = [replace(ctx, encounters=()) for ctx in (march, april)]
    direct = compute_batch([march, april], lines, patients, findings=Findings())
    handed = compute_batch(bare, Timelines(), {}, findings=Findings(), tables=back)
    assert handed == direct

    # counted independently: not void, starting in the period, each key once
    counted = [e for e in stays if e.status != "cancelled" and e.start and e.start >= march.start]
    finished = [e for e in counted if e.status == "finished"]
    assert encounter_counts(back) == [
        EncounterCounts(
            total=len(counted),
            multi_clinician=sum(len(set(e.practitioners)) >= 2 for e in counted),
            with_participants=sum(bool(e.practitioners) for e in counted),
            finished=len(finished),
            finished_with_end=sum(e.end is not None for e in finished),
        ),
        EncounterCounts(0, 0, 0, 0, 0),
    ]
    assert encounter_counts(back)[0] == EncounterCounts(3, 2, 2, 2, 1)
    assert own_encounter_counts(march) == encounter_counts(back)[0]


def test_without_members_every_population_keeps_its_count_and_lists_no_one() -> None:
    """The measure stage asks for members only for a report's evidence: the counts then
    come from the strata query and must be the lengths of the lists it would have given."""
    stays = [
        enc("e1", "2025-03-10T10:00:00Z", "2025-03-10T11:00:00Z", patient="Patient/p1"),
        enc("e2", "2025-03-11T10:00:00Z", "2025-03-11T14:00:00Z", patient="Patient/p2"),
        enc("e3", "2025-03-12T10:00:00Z", None, patient="Patient/p2"),
    ]
    march = context(stays, ["Patient/p1", "Patient/p2"])
    reading = obs("o1", "bp-panel", "2025-03-10T10:30:00Z", systolic=150, diastolic=80)
    lines = timelines(stays, [reading])
    listed = compute_batch([march], lines, {}, findings=Findings())[0]
    counted = compute_batch([march], lines, {}, findings=Findings(), members=False)[0]
    pairs = [
        (a, b)
        for full, bare in zip(listed, counted, strict=True)
        for g, h in zip(full.groups, bare.groups, strict=True)
        for a, b in zip(g.populations, h.populations, strict=True)
    ]
    assert any(a.count > 1 for a, _ in pairs)
    for a, b in pairs:
        assert (b.code, b.count, b.members) == (a.code, len(a.members), ())
    for full, bare in zip(listed, counted, strict=True):
        for g, h in zip(full.groups, bare.groups, strict=True):
            assert (h.score, h.observations, h.strata) == (g.score, g.observations, g.strata)
