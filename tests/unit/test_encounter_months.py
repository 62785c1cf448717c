"""Encounter month buckets: rows round-trip, windows hold only what they need, every record
is counted once, and the streamed derive stage agrees with the in-memory ``derive``."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.derive import DerivationConfig, EncounterRecord, derive
from fhir_microsystems.extract import ENCOUNTER_SCHEMA, NO_START, PatientRow, records_table
from fhir_microsystems.periods import split_periods
from fhir_microsystems.pipeline import MemoryStore, RunSpec, extract, plan
from fhir_microsystems.pipeline import derive as derive_stage
from fhir_microsystems.pipeline._columns import from_parquet, to_parquet
from fhir_microsystems.pipeline._encounter_months import MonthIndex, MonthWindows, MonthWriter
from fhir_microsystems.sources import NdjsonSource, ReferenceIndex
from tests.support.encounter_rows import records_of


def _rec(key: str, start: datetime | None, status: str = "finished") -> EncounterRecord:
    return EncounterRecord(
        key=f"Encounter/{key}",
        patient="Patient/p1",
        class_code="AMB",
        status=status,
        start=start,
        end=start + timedelta(hours=1) if start else None,
        participants=("Practitioner/a", "Practitioner/b"),
        unresolved_participants=0,
        service_provider="Organization/o",
        location=None,
        context="Organization/o",
        discharge_disposition=None,
    )


def _at(month: int, day: int = 1) -> datetime:
    return datetime(2025, month, day, 12, tzinfo=UTC)


def test_records_round_trip_through_parquet() -> None:
    full = replace(
        _rec("e1", datetime(2025, 3, 5, 12, 0, 0, 1500, tzinfo=UTC)),
        unresolved_participants=2,
        location="Location/l",
        discharge_disposition="home",
    )
    empty = EncounterRecord(
        "Encounter/e2", None, None, "unknown", None, None, (), 0, None, None, None, None
    )
    rows: list[tuple[EncounterRecord, PatientRow | None]] = [
        (full, ("female", "1970-01-01", True, "2025-04-01T00:00:00Z")),
        (empty, None),
        (_rec("e3", _at(4, 1)), (None, None, False, None)),
    ]
    table = from_parquet(to_parquet([records_table(rows)]))
    assert table.schema == ENCOUNTER_SCHEMA
    assert table["month"].to_pylist() == ["2025-03", NO_START, "2025-04"]
    assert list(records_of(table)) == rows
    back = [rec for rec, _ in records_of(table)]
    assert back[0].patient is back[2].patient  # one string object per distinct value


def _windows(
    records: list[EncounterRecord], chunk: int = 2, parts: int = 2, last_month: int = 4
) -> tuple[MonthWindows, Findings]:
    store = MemoryStore()
    metas = []
    for n in range(parts):
        writer = MonthWriter(store, f"p{n}")
        writer.add(records_table([(rec, None) for rec in records[n::parts]]))
        metas.append((f"p{n}", orjson.loads(orjson.dumps(writer.close()))))
    end = _at(last_month + 1).replace(day=1, hour=0)
    periods = split_periods(_at(2).replace(day=1, hour=0), end, "month")
    findings = Findings()
    return MonthWindows(store, MonthIndex.combine(metas), periods, DerivationConfig(), findings), (
        findings
    )


def test_windows_hold_only_the_months_they_need_and_count_every_record() -> None:
    records = [_rec(f"m{m}d{d}", _at(m, d)) for m in range(1, 8) for d in (3, 17)]
    records += [_rec("nostart", None), _rec("void", _at(3, 9), status="cancelled")]
    records.append(_rec("m3d3", _at(3, 3)))  # the same encounter again
    windows, findings = _windows(records)
    march = windows.window(_at(2, 1) - timedelta(days=30), _at(4, 1).replace(hour=0)).records()
    assert [r.key for r in march][:3] == ["Encounter/m1d3", "Encounter/m1d17", "Encounter/m2d3"]
    assert "Encounter/void" not in {r.key for r in march}
    assert sorted(march, key=lambda r: (r.start, r.key)) == march
    later = windows.window(_at(4, 1).replace(hour=0) - timedelta(days=30), _at(5, 1)).records()
    assert "2025-01" not in windows.loaded and "2025-02" not in windows.loaded
    assert {r.key for r in later} >= {"Encounter/m3d3", "Encounter/m4d17"}
    march_rows = windows.rows(_at(3, 1).replace(hour=0), _at(4, 1).replace(hour=0))
    assert march_rows.num_rows == 3  # void kept, twin not
    ahead = windows.rows(_at(5, 1).replace(hour=0), _at(7, 1).replace(hour=0), frozenset({"AMB"}))
    assert ahead["key"].to_pylist() == [
        "Encounter/m5d3",
        "Encounter/m5d17",
        "Encounter/m6d3",
        "Encounter/m6d17",
    ]
    assert windows.rows(_at(5, 1), _at(7, 1), frozenset({"IMP"})).num_rows == 0
    narrow = windows.rows(
        _at(5, 1).replace(hour=0), _at(7, 1).replace(hour=0), frozenset({"AMB"}), ["patient"]
    )
    assert narrow.column_names == ["key", "patient"]  # filtered by columns it does not return
    assert narrow["key"].to_pylist() == ahead["key"].to_pylist()
    assert "2025-06" not in windows.loaded  # read for the rows, not loaded
    counts = windows.finish()
    assert windows.read == len(records)
    assert counts == Counter(
        {"outside-periods": 8, "no-start": 1, "status-cancelled": 1, "duplicate": 1}
    )
    assert [f.kind for f in findings] == ["duplicate-resource"]
    assert windows.peak_records < len(records)


def test_an_encounter_read_twice_is_the_first_read_in_rows_and_records_alike() -> None:
    first = _rec("e", _at(6, 3))
    again = replace(first, class_code="IMP", start=_at(6, 4))  # the same id read twice
    windows, findings = _windows([first, again], parts=1, last_month=6)
    june = (_at(6, 1).replace(hour=0), _at(7, 1).replace(hour=0))
    assert windows.rows(*june, frozenset({"IMP"})).num_rows == 0  # ahead: not yet loaded
    assert windows.rows(*june)["class_code"].to_pylist() == ["AMB"]
    window = windows.window(june[0] - timedelta(days=30), june[1])
    assert window.table["class_code"].to_pylist() == ["AMB"]
    assert windows.rows(*june, frozenset({"IMP"})).num_rows == 0  # loaded: the same
    assert [f.kind for f in findings] == ["duplicate-resource"]  # noted once, when loaded
    assert windows.finish()["duplicate"] == 1


def test_month_index_combines_time_range() -> None:
    index = MonthIndex.combine(
        [
            ("a", {"chunks": {"2025-01": 1}, "first": None, "last": None, "latest": None}),
            (
                "b",
                {
                    "chunks": {"2025-01": 2, "2025-02": 1},
                    "first": _at(1).isoformat(),
                    "last": _at(2).isoformat(),
                    "latest": _at(2, 3).isoformat(),
                },
            ),
        ]
    )
    assert index.chunks == {"2025-01": [("a", 1), ("b", 2)], "2025-02": [("b", 1)]}
    assert (index.first, index.last, index.latest) == (_at(1), _at(2), _at(2, 3))


def test_streamed_stage_agrees_with_in_memory_derive(
    synthea_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fhir_microsystems.pipeline import _encounter_months

    monkeypatch.setattr(_encounter_months, "ENCOUNTER_CHUNK", 3)
    source = NdjsonSource(synthea_dir)
    expected = derive(source, ReferenceIndex.build(source))
    spec = RunSpec(source=str(synthea_dir))
    store = MemoryStore()
    partitions = plan(spec, store, "r")
    for partition in partitions:
        extract(spec, partition, store, "r")
    written = derive_stage(spec, partitions, store, "r")
    summary = orjson.loads(store.get("fhirms:r:derivation") or b"{}")
    assert written == [p.label for p in expected.periods if expected.microsystems[p.label]]
    assert summary["periods"] == [p.label for p in expected.periods]
    assert summary["encounters_read"] == expected.stats["encounters-read"]
    assert summary["encounters_attributed"] == expected.encounters_attributed
    assert summary["unattributed"] == dict(expected.unattributed)
    assert [
        (r["period"], r["id"], r["patients"], r["encounters"]) for r in summary["microsystems"]
    ] == [
        (p.label, m.id, len(m.patients), len(m.encounter_ids))
        for p in expected.periods
        for m in expected.microsystems[p.label]
    ]


def test_observation_facts_round_trip_through_parquet() -> None:
    from fhir_microsystems.measures import (
        ObservationFact,
        observation_facts_of,
        observation_table,
    )
    from fhir_microsystems.pipeline._columns import from_parquet, split_by_month, to_parquet

    facts = [
        ObservationFact(
            key="Observation/o1",
            patient="Patient/p1",
            kind="bp-panel",
            status="final",
            effective=_at(3, 4),
            systolic=128.0,
            diastolic=81.5,
            coded=True,
            complete=False,
        ),
        ObservationFact("Observation/o2", "Patient/p2", "hba1c", "final", _at(4, 1), value=7.5),
    ]
    table = observation_table(facts)
    months = dict(split_by_month(table))
    assert sorted(months) == ["2025-03", "2025-04"]
    back = [
        f
        for m in sorted(months)
        for f in observation_facts_of(from_parquet(to_parquet([months[m]])))
    ]
    assert back == facts


def test_writer_stores_months_in_chunks_in_record_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from fhir_microsystems.pipeline import _encounter_months

    monkeypatch.setattr(_encounter_months, "ENCOUNTER_CHUNK", 2)
    store = MemoryStore()
    writer = MonthWriter(store, "p")
    recs = [_rec("a", _at(3, 9)), _rec("b", _at(4)), _rec("c", None), _rec("d", _at(3, 2))]
    recs += [_rec("e", _at(3, 5)), _rec("f", _at(3, 1))]
    facts: PatientRow = ("female", "1970-01-01", False, None)
    rows = [(rec, None if n % 2 else facts) for n, rec in enumerate(recs)]
    writer.add(records_table(rows[:3]))
    writer.add(records_table(rows[3:]))
    meta = writer.close()
    assert meta["chunks"] == {"2025-03": 2, "2025-04": 1, NO_START: 1}
    assert (meta["first"], meta["last"], meta["records"]) == (
        _at(3, 1).isoformat(),
        _at(4).isoformat(),
        6,
    )
    stored = {
        month: [
            rec.key
            for number in range(count)
            for rec, _ in records_of(from_parquet(store.get(f"p:{month}:{number}") or b""))
        ]
        for month, count in meta["chunks"].items()
    }
    assert stored == {
        "2025-03": ["Encounter/a", "Encounter/d", "Encounter/e", "Encounter/f"],
        "2025-04": ["Encounter/b"],
        NO_START: ["Encounter/c"],
    }
