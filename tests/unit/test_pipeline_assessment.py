"""The assessment in a run: the CareTeam lead and staff QuestionnaireResponses are used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.reports import CHARACTERISTICS
from fhir_microsystems.synth import generate

BASE = "https://fhir-microsystems.org/fhir"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x]


def _strata(report: dict[str, Any], dimension: str) -> list[dict[str, Any]]:
    group = next(g for g in report["group"] if g["id"] == dimension)
    return [s for strat in group.get("stratifier", ()) for s in strat["stratum"]]


def _source(stratum: dict[str, Any]) -> str:
    return str(
        next(e["valueCode"] for e in stratum["extension"] if e["url"].endswith("/indicator-source"))
    )


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("h")
    generate(out, seed=5, patients=300, months=2)
    return out


def test_lead_and_staff_responses_reach_the_assessment(hospital: Path, tmp_path: Path) -> None:
    first = run_in_process(RunSpec(source=str(hospital), out_dir=str(tmp_path / "a")))
    # Default window: the trailing year, clipped to the months that hold data.
    assert first["derivation"]["periods"] == ["2025-01", "2025-02"]
    teams = _lines(tmp_path / "a" / "CareTeam.ndjson")
    led = [
        t
        for t in teams
        if any(
            c["code"] == "team-lead"
            for p in t["participant"]
            for r in p["role"]
            for c in r["coding"]
        )
    ]
    assert led, "the generator writes leads on microsystem CareTeams"
    team = led[0]
    core = [
        p["member"]["reference"]
        for p in team["participant"]
        if any(c["code"] == "core-member" for r in p["role"] for c in r["coding"])
    ]
    assert len(core) >= 2
    reports = {
        (r["extension"][0]["valueReference"]["reference"], r["measure"].split("|")[0]): r
        for r in _lines(tmp_path / "a" / "MeasureReport.ndjson")
    }
    key = (f"CareTeam/{team['id']}", f"{BASE}/Measure/microsystem-assessment")
    leadership = _strata(reports[key], "leadership")
    assert [s["measureScore"]["value"] for s in leadership if _source(s) == "data"] == [1.0]

    # Two staff members rate "leadership" 3 (fully) and 1 (not yet): staff score 0.5.
    leadership_item = next(c.code for c in CHARACTERISTICS if c.code == "leadership")
    authored = team["period"]["start"][:10] + "T12:00:00Z"
    responses = [
        {
            "resourceType": "QuestionnaireResponse",
            "id": f"qr-{n}",
            "questionnaire": f"{BASE}/Questionnaire/microsystem-assessment",
            "status": "completed",
            "authored": authored,
            "author": {"reference": author},
            "item": [{"linkId": leadership_item, "answer": [{"valueInteger": rating}]}],
        }
        for n, (author, rating) in enumerate(zip(core[:2], (3, 1), strict=True))
    ]
    responses.append(
        {"resourceType": "QuestionnaireResponse", "id": "qr-anon", "status": "completed"}
    )
    src = tmp_path / "src"
    src.mkdir()
    for path in hospital.iterdir():
        (src / path.name).write_bytes(path.read_bytes())
    (src / "QuestionnaireResponse.ndjson").write_bytes(
        b"".join(orjson.dumps(r) + b"\n" for r in responses)
    )
    second = run_in_process(RunSpec(source=str(src), out_dir=str(tmp_path / "b")))
    reports_b = {
        (r["extension"][0]["valueReference"]["reference"], r["measure"].split("|")[0]): r
        for r in _lines(tmp_path / "b" / "MeasureReport.ndjson")
    }
    staff = [s for s in _strata(reports_b[key], "leadership") if _source(s) == "staff"]
    assert len(staff) == 1
    assert staff[0]["measureScore"]["value"] == pytest.approx(0.5)
    findings = [
        orjson.loads(x) for x in (tmp_path / "b" / "findings.ndjson").read_bytes().splitlines()
    ]
    assert any(
        f["where"] == "QuestionnaireResponse/qr-anon" and f["kind"] == "unassignable-response"
        for f in findings
    )
    assert second["findings"]["total"] == first["findings"]["total"] + 1
