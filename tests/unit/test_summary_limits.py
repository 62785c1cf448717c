"""What the summary and console say: limits of the data, patient groups, the assessment."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from fhir_microsystems import cli
from fhir_microsystems.reports import DIMENSIONS

from .test_period_boundaries import _lines, _run, _world

DAY = 1440
MARCH = (31 + 29) * DAY  # 2024-03-01, in minutes from 2024-01-01


def _one_clinician_run(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """Three clinicians, one per encounter; patient p0 sees d0 twice and d1 once (a
    plurality rule gave d1's microsystem no patient); p1 only d2."""
    rows = [
        ("AMB", MARCH + 2 * DAY, 30, "finished", 0, "p0"),
        ("AMB", MARCH + 5 * DAY, 30, "finished", 0, "p0"),
        ("EMER", MARCH + 9 * DAY, 200, "finished", 1, "p0"),
        ("IMP", MARCH + 3 * DAY, 3 * DAY, "finished", 2, "p1"),
    ]
    return _run(_world(rows), tmp_path, "month", end=datetime(2024, 4, 1, tzinfo=UTC))


def _printed(summary: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, width=200))
    cli.print_summary(summary)
    return buffer.getvalue()


def test_single_clinician_data_is_named_a_limitation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary, _ = _one_clinician_run(tmp_path)
    rows = summary["derivation"]["microsystems"]
    assert len(rows) == 3 and all(r["core"] + r["occasional"] == 1 for r in rows)
    (limitation,) = summary["limitations"]
    assert limitation["kind"] == "single-member-microsystems"
    assert limitation["count"] == 3
    assert "3 of 3 microsystem-periods" in limitation["message"]
    assert "4 of 4 attributed encounters" in limitation["message"]
    assert "limitation: 3 of 3 microsystem-periods have a single member" in _printed(
        summary, monkeypatch
    )


def test_every_microsystem_that_served_patients_has_a_patient_group(tmp_path: Path) -> None:
    summary, out = _one_clinician_run(tmp_path)
    groups = {
        g["id"]: g["quantity"]
        for g in _lines(out / "Group.ndjson")
        if g["id"].endswith("-attributed")
    }
    served = [r for r in summary["derivation"]["microsystems"] if r["encounters"]]
    assert len(served) == 3
    for row in served:
        assert row["patients"] >= 1, row
        assert groups[f"{row['id']}-{row['period']}-attributed"] == row["patients"]
    assert sorted(r["patients"] for r in served) == [1, 1, 1]  # p0 is in d0's and d1's groups


def test_assessment_row_is_the_overall_result_with_its_dimensions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary, out = _one_clinician_run(tmp_path)
    reports = {
        r["extension"][0]["valueReference"]["reference"]: r
        for r in _lines(out / "MeasureReport.ndjson")
        if "/Measure/microsystem-assessment|" in r["measure"]
    }
    rows = [r for r in summary["results"] if r["measure"] == "microsystem-assessment"]
    assert len(rows) == 3
    for row in rows:
        dimensions = {
            g["id"]: g.get("measureScore", {}).get("value")
            for g in reports[row["microsystem"]]["group"]
        }
        assert row["dimensions"] == dimensions and set(dimensions) == set(DIMENSIONS)
        scored = [v for v in dimensions.values() if v is not None]
        assert row["score"] == pytest.approx(sum(scored) / len(scored), abs=5e-5)
        assert row["score_rule"] == "unweighted mean of the dimension scores that have a value"
    # the first dimension alone (evidence base) is not what the row shows
    assert any(row["score"] != row["dimensions"]["evidence-base"] for row in rows)
    assert "assessment: the overall result, unweighted mean" in _printed(summary, monkeypatch)


def test_a_coverage_gap_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    from fhir_microsystems.pipeline._finalize import coverage

    derivation = {"qualifying": {"inpatient-length-of-stay": 5, "volume": 9}}
    results = [
        {"measure": "inpatient-length-of-stay", "populations": {"initial-population": 3}},
        {"measure": "volume", "populations": {"initial-population": 9}},
    ]
    found = coverage(derivation, results)
    assert found["inpatient-length-of-stay"] == {"qualifying": 5, "counted": 3, "gap": 2}
    assert found["volume"] == {"qualifying": 9, "counted": 9, "gap": 0}
    text = _printed({"coverage": found}, monkeypatch)
    assert "coverage gap: inpatient-length-of-stay counts 3 of 5 qualifying" in text
    assert "coverage gap: volume" not in text


def test_summary_json_carries_the_coverage(tmp_path: Path) -> None:
    summary, out = _one_clinician_run(tmp_path)
    written = orjson.loads((out / "summary.json").read_bytes())
    assert written["coverage"] == summary["coverage"]
    assert written["coverage"]["inpatient-length-of-stay"] == {
        "qualifying": 1,
        "counted": 1,
        "gap": 0,
    }
