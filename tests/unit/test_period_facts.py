"""A period's fact tables joined by SQL from encounter rows, and the qualifying counts: the
expected values are written out by hand from the rows below."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from fhir_microsystems.derive import EncounterRecord, Member, MicrosystemPeriod
from fhir_microsystems.extract import records_table
from fhir_microsystems.measures import PatientFact, qualifying_counts
from fhir_microsystems.periods import Period
from fhir_microsystems.pipeline._period_facts import period_fact_tables

MARCH = Period.parse("2025-03")


def _at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def _rec(
    key: str,
    patient: str | None,
    start: datetime,
    *people: str,
    cls: str = "AMB",
    status: str = "finished",
    hours: int = 2,
) -> EncounterRecord:
    return EncounterRecord(
        key=f"Encounter/{key}",
        patient=f"Patient/{patient}" if patient else None,
        class_code=cls,
        status=status,
        start=start,
        end=start + timedelta(hours=hours),
        participants=tuple(f"Practitioner/{p}" for p in people),
        unresolved_participants=0,
        service_provider="Organization/o",
        location=None,
        context="Organization/o",
        discharge_disposition=None,
    )


def _item(
    number: int, members: list[str], patients: list[str], keys: list[str], ending: list[str]
) -> MicrosystemPeriod:
    return MicrosystemPeriod(
        id=f"ms-{number}",
        period=MARCH,
        organization="Organization/o",
        location=None,
        name=f"Team {number}",
        members={
            f"Practitioner/{m}": Member(
                f"Practitioner/{m}", True, None, None, None, 1, 1.0, "inferred"
            )
            for m in members
        },
        patients=frozenset(f"Patient/{p}" for p in patients),
        encounter_ids=frozenset(f"Encounter/{k}" for k in keys),
        explicit_careteam=None,
        stability=None,
        events=(),
        split_from=(),
        merged_from=(),
        first_period="2025-03",
        ending_ids=frozenset(f"Encounter/{k}" for k in ending),
    )


def _rows(records: list[EncounterRecord]) -> pa.Table:
    return records_table([(rec, None) for rec in records])


def test_encounters_patients_and_follow_ups_of_a_period_are_joined_from_its_rows() -> None:
    period_rows = [
        _rec("b", "p1", _at(5), "x", "a", "x", cls="IMP"),  # a is the first member listed
        _rec("a", "p2", _at(2), "z"),  # no member takes part
        _rec("lost", "p9", _at(3), "a"),  # attributed, but no row: left out
        _rec("c", "p3", _at(9), "c", "a"),
        _rec("c", "p3", _at(9), "c", "c"),  # read again later: this row is kept
    ]
    ending = [_rec("old", "p4", _at(27, 2), "a", cls="IMP", hours=24 * 5)]
    follow_ups = [
        _rec("f2", "p1", _at(20), cls="EMER"),
        _rec("f1", "p1", _at(20), cls="EMER"),  # same start: by key
        _rec("f0", "p1", _at(2, month=4), cls="IMP"),
        _rec("f3", "p7", _at(21), cls="EMER"),  # not a patient of the period's encounters
        _rec("f4", "p5", _at(22), cls="EMER"),  # a Group patient without encounters
    ]
    items = [
        _item(0, ["a", "c"], ["p1", "p5"], ["b", "a", "lost"], ["old"]),
        _item(1, ["c"], ["p3"], ["c"], []),
    ]
    asked: list[str] = []

    def facts(keys: list[str]) -> list[PatientFact]:
        asked.extend(keys)
        return [PatientFact(key, gender="female") for key in keys]

    groups = pa.table(
        {
            "ctx": pa.array([0, 0, 1], pa.int32()),
            "patient": ["Patient/p1", "Patient/p5", "Patient/p3"],
        }
    )
    contexts = (pa.table({"ctx": [0, 1]}), groups)
    tables = period_fact_tables(
        items,
        contexts,
        _rows(period_rows[:2] + period_rows[3:]),
        _rows(ending),
        _rows(follow_ups),
        facts,
    )

    enc = tables.enc.to_pylist()
    assert [(r["ctx"], r["ord"], r["key"]) for r in enc] == [
        (0, 1, "Encounter/a"),
        (0, 2, "Encounter/b"),
        (0, 3, "Encounter/old"),
        (1, 1, "Encounter/c"),
    ]
    assert [r["primary_practitioner"] for r in enc] == [
        None,
        "Practitioner/a",
        "Practitioner/a",
        "Practitioner/c",
    ]
    assert [r["clinicians"] for r in enc] == [1, 2, 1, 1]
    assert enc[2]["start_us"] == int(_at(27, 2).timestamp()) * 1_000_000
    assert enc[2]["end_us"] - enc[2]["start_us"] == 5 * 24 * 3600 * 1_000_000
    # Listed: Group patients and those of encounters started here (not of "old", p4).
    assert tables.pat["key"].to_pylist() == ["Patient/p1", "Patient/p2", "Patient/p3", "Patient/p5"]
    assert asked == tables.pat["key"].to_pylist()
    timeline = tables.timeline.to_pylist()
    assert [(r["patient"], r["key"]) for r in timeline] == [
        ("Patient/p1", "Encounter/f1"),
        ("Patient/p1", "Encounter/f2"),
        ("Patient/p1", "Encounter/f0"),
    ]
    assert tables.ctxs is contexts[0] and tables.grp is contexts[1]


def test_qualifying_counts_follow_each_measures_rule_at_the_window_edges() -> None:
    start, end = _at(1, hour=0), _at(1, month=4, hour=0)
    records = [
        _rec("v1", "p", _at(2), cls="AMB"),  # volume only
        _rec("e1", "p", _at(3), cls="EMER"),  # ED: length of stay and return
        _rec("e2", "p", _at(4), cls="EMER", status="in-progress"),  # return only
        _rec("e3", "p", _at(31, hour=20), cls="EMER", hours=6),  # ends after the window
        _rec("i1", "p", _at(10), cls="IMP"),  # inpatient: length of stay and readmission
        _rec("i0", "p", _at(28, month=2), cls="IMP", hours=48),  # starts before: not assessed
        _rec("x1", "p", _at(5), cls="EMER", status="cancelled"),  # void
        replace(_rec("s1", "p", _at(6)), start=end),  # starts at the window's end
        replace(_rec("s0", "p", _at(6), cls="IMP"), start=start),  # at its start: counted
    ]
    counts = qualifying_counts(_rows(records), start, end)
    assert dict(counts) == {
        "volume": 6,
        "ed-length-of-stay": 1,
        "ed-return-72h": 2,
        "inpatient-length-of-stay": 2,
        "readmission-30d": 2,
    }
