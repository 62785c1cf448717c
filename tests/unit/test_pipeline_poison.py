"""Valid but hostile input (extreme dates, a BOM, an unknown server base) never stops a run."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.reports import validate_measure_report
from fhir_microsystems.synth import generate
from tests.support.poison import poison_dates_and_bom


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hospital") / "h"
    generate(root, seed=31, patients=120, months=3)
    return root


def _findings(out: Path) -> list[dict[str, str]]:
    return [orjson.loads(x) for x in (out / "findings.ndjson").read_bytes().splitlines()]


def test_extreme_dates_and_a_bom_complete_the_run(hospital: Path, tmp_path: Path) -> None:
    clean = run_in_process(RunSpec(source=str(hospital), out_dir=str(tmp_path / "clean")))
    poisoned = tmp_path / "poisoned"
    shutil.copytree(hospital, poisoned)
    poison_dates_and_bom(poisoned)
    out = tmp_path / "out"
    summary = run_in_process(RunSpec(source=str(poisoned), out_dir=str(out)))
    # the BOM costs no line: every patient is still read, so nothing cascades
    derivation, before = summary["derivation"], clean["derivation"]
    assert derivation["encounters_read"] == before["encounters_read"]
    # the encounter that starts in year 1 is counted outside the periods, no other
    expected = dict(before["unattributed"])
    expected["outside-periods"] = expected.get("outside-periods", 0) + 1
    assert derivation["unattributed"] == expected
    boms = [f for f in _findings(out) if f["kind"] == "byte-order-mark"]
    assert [f["where"] for f in boms] == ["Patient.ndjson"]
    assert "unresolved-reference" not in summary["findings"]["by_kind"]
    reports = (out / "MeasureReport.ndjson").read_bytes().splitlines()
    assert reports
    for line in reports:
        validate_measure_report(orjson.loads(line))


def test_an_unknown_base_gives_one_hint(hospital: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(hospital, src)
    (src / "manifest.json").unlink()  # absolute references name a base nothing declares
    out = tmp_path / "out"
    summary = run_in_process(RunSpec(source=str(src), out_dir=str(out)))
    hints = [f for f in _findings(out) if f["kind"] == "unknown-source-base"]
    assert len(hints) == 1
    assert hints[0]["where"] == "https://synthetic-hospital.example/fhir"
    assert (
        "FHIRMS_SOURCE_BASE_ALIASES=https://synthetic-hospital.example/fhir"
        in (hints[0]["message"])
    )
    assert summary["findings"]["by_kind"]["unknown-source-base"] == 1
    assert summary["findings"]["by_kind"]["unresolved-reference"] > 1


def test_a_bulk_exports_error_files_are_findings_of_the_run(hospital: Path, tmp_path: Path) -> None:
    """The server's OperationOutcome error files that an export's manifest lists are counted
    as findings of the run that reads the folder, one per line, naming file and line."""
    folder = tmp_path / "export"
    shutil.copytree(hospital, folder)
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": "Encounter/x: gone"}],
    }
    (folder / "error.000.ndjson").write_bytes(orjson.dumps(outcome) + b"\n" + orjson.dumps(outcome))
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    manifest["error"] = [{"type": "OperationOutcome", "url": "error.000.ndjson"}]
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    summary = run_in_process(RunSpec(source=str(folder), out_dir=str(tmp_path / "out")))
    assert summary["findings"]["by_kind"]["export-error"] == 2
    errors = [f for f in _findings(tmp_path / "out") if f["kind"] == "export-error"]
    assert [f["where"] for f in errors] == ["error.000.ndjson:1", "error.000.ndjson:2"]
    assert all("Encounter/x: gone" in f["message"] for f in errors)


def test_patients_with_gender_and_birth_date_of_the_wrong_json_type_are_unknown(
    hospital: Path, tmp_path: Path
) -> None:
    """A gender or birthDate that is not a string (a number, an object) reads as absent:
    the patients fall into the ``unknown`` gender and age-band strata and the run goes on."""
    src = tmp_path / "src"
    shutil.copytree(hospital, src)
    odd = [{"gender": 1, "birthDate": 19500101}, {"gender": {"code": "female"}, "birthDate": []}]
    lines = [
        orjson.dumps(orjson.loads(line) | odd[n % 2])
        for n, line in enumerate((src / "Patient.ndjson").read_bytes().splitlines())
    ]
    (src / "Patient.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    clean = run_in_process(RunSpec(source=str(hospital), out_dir=str(tmp_path / "clean")))
    out = tmp_path / "out"
    summary = run_in_process(RunSpec(source=str(src), out_dir=str(out)))
    assert summary["files"] == clean["files"]
    reports = [orjson.loads(x) for x in (out / "MeasureReport.ndjson").read_bytes().splitlines()]
    for report in reports:
        validate_measure_report(report)
    strata = {
        (s["id"], stratum["value"]["text"])
        for r in reports
        for g in r["group"]
        for s in g.get("stratifier", ())
        for stratum in s.get("stratum", ())
        if s["id"] in ("gender", "age-band")
    }
    assert strata == {("gender", "unknown"), ("age-band", "unknown")}
