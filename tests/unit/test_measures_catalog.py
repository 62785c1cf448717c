"""The catalog, the docs table and age bands agree."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fhir_microsystems.measures import MEASURES, age_band
from tests.unit.test_measures_support import START

DOCS = Path(__file__).resolve().parents[2] / "docs" / "measures.md"


def test_docs_table_has_one_row_per_measure_with_its_scoring_and_direction() -> None:
    rows = {
        line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[1:-1]]
        for line in DOCS.read_text().splitlines()
        if line.startswith("| `")
    }
    for definition in MEASURES:
        row = rows[definition.id]
        assert row[2] == definition.scoring
        assert row[3] == (definition.improvement or "-")
        if definition.target:
            value = row[7].split()[1]
            assert float(value) == definition.target.value
            assert row[7].startswith(definition.target.comparator)


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2007, 3, 1), "18-44"),  # 18th birthday on the period start
        (date(2007, 3, 2), "0-17"),
        (date(1980, 3, 1), "45-64"),
        (date(1960, 3, 2), "45-64"),  # 64 until the next day
        (date(1960, 3, 1), "65+"),
        (date(2025, 3, 15), "0-17"),  # born during the period
        (None, "unknown"),
    ],
)
def test_age_band_at_period_start(born: date | None, band: str) -> None:
    assert age_band(born, START) == band


def test_timelines_sort_encounters_by_time_with_missing_times_last() -> None:
    from tests.unit.test_measures_support import enc, obs, timelines

    late = enc("b", "2025-03-05T00:00:00Z", None)
    early = enc("a", "2025-03-01T00:00:00+01:00", None)  # 28 February 23:00 UTC
    unknown = enc("c", None, None)
    other = enc("d", "2025-03-01T00:00:00Z", None, patient="Patient/p2")
    tl = timelines([late, unknown, early, other], [obs("o1", "other", "2025-03-02")])
    assert [e.key for e in tl.encounters_of("Patient/p1")] == [
        "Encounter/a",
        "Encounter/b",
        "Encounter/c",
    ]
    tl.add_encounter(enc("e", "2025-01-01T00:00:00Z", None))
    assert tl.encounters_of("Patient/p1")[0].key == "Encounter/e"
    assert tl.observations["key"].to_pylist() == ["Observation/o1"]
    assert tl.encounters_of("Patient/p9") == ()
