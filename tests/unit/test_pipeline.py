"""The in-process run: every encounter accounted for, valid outputs, idempotent reruns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.measurereport import MeasureReport

from fhir_microsystems.pipeline import (
    MemoryStore,
    RunSpec,
    derive,
    extract,
    plan,
    run_in_process,
)
from fhir_microsystems.reports import validate_measure_report
from tests.support.datasets import SYNTHEA_DIR, line_count

MODELS: dict[str, Any] = {"CareTeam": CareTeam, "Group": Group, "MeasureReport": MeasureReport}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


@pytest.fixture(scope="module")
def synthea_run(
    synthea_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("synthea-out")
    summary = run_in_process(RunSpec(source=str(synthea_dir), out_dir=str(out)))
    return out, summary


def test_every_encounter_is_attributed_or_counted(synthea_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = synthea_run
    derivation = summary["derivation"]
    encounters = line_count(SYNTHEA_DIR, "Encounter")
    assert derivation["encounters_read"] == encounters
    assert (
        derivation["encounters_attributed"] + sum(derivation["unattributed"].values()) == encounters
    )
    assert derivation["encounters_attributed"] > 0


def test_outputs_are_valid_r4_and_consistent(synthea_run: tuple[Path, dict[str, Any]]) -> None:
    out, summary = synthea_run
    resources = {t: _lines(out / f"{t}.ndjson") for t in MODELS}
    assert summary["files"] == {t: len(v) for t, v in resources.items()}
    for rtype, items in resources.items():
        ids = [r["id"] for r in items]
        assert len(ids) == len(set(ids)), f"duplicate {rtype} ids"
        for resource in items:
            MODELS[rtype].model_validate(resource)
    careteams = {f"CareTeam/{r['id']}" for r in resources["CareTeam"]}
    groups = {f"Group/{r['id']}" for r in resources["Group"]}
    for report in resources["MeasureReport"]:
        validate_measure_report(report, proportion=False)
        assert report["subject"]["reference"] in groups
        assert report["extension"][0]["valueReference"]["reference"] in careteams
    # Eight measures and one assessment per microsystem-period.
    assert len(resources["MeasureReport"]) == 9 * len(resources["CareTeam"])
    assessments = [
        r for r in resources["MeasureReport"] if "/Measure/microsystem-assessment|" in r["measure"]
    ]
    assert len(assessments) == len(resources["CareTeam"])


def test_rerun_writes_identical_files(
    synthea_dir: Path, tmp_path: Path, synthea_run: tuple[Path, dict[str, Any]]
) -> None:
    first, _ = synthea_run
    run_in_process(RunSpec(source=str(synthea_dir), out_dir=str(tmp_path)))
    run_in_process(RunSpec(source=str(synthea_dir), out_dir=str(tmp_path)))  # again, same dir
    for rtype in MODELS:
        assert (tmp_path / f"{rtype}.ndjson").read_bytes() == (
            first / f"{rtype}.ndjson"
        ).read_bytes()


def test_stages_are_idempotent(synthea_dir: Path) -> None:
    spec = RunSpec(source=str(synthea_dir))
    store = MemoryStore()
    partitions = plan(spec, store, "r1")
    assert partitions == [
        "encounters:Encounter.ndjson",
        "conditions:Condition.ndjson",
        "observations:Observation.ndjson",
    ]
    for partition in partitions:
        extract(spec, partition, store, "r1")
    first = derive(spec, partitions, store, "r1")
    snapshot = dict(store.data)
    assert derive(spec, partitions, store, "r1") == first
    assert store.data == snapshot


def test_bad_lines_are_reported_not_fatal(tmp_path: Path, synthea_dir: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in (
        "Patient",
        "Practitioner",
        "Organization",
        "Location",
        "PractitionerRole",
        "CareTeam",
        "Condition",
    ):
        (src / f"{name}.ndjson").write_bytes((synthea_dir / f"{name}.ndjson").read_bytes())
    encounters = (synthea_dir / "Encounter.ndjson").read_bytes().splitlines()
    bad = [
        *encounters[:100],
        b"{broken",
        orjson.dumps({"resourceType": "Encounter", "id": "no-status", "class": {"code": "AMB"}}),
    ]
    (src / "Encounter.ndjson").write_bytes(b"\n".join(bad) + b"\n")
    summary = run_in_process(RunSpec(source=str(src), out_dir=str(tmp_path / "out")))
    findings = [
        orjson.loads(x) for x in (tmp_path / "out" / "findings.ndjson").read_bytes().splitlines()
    ]
    kinds = {(f["kind"], f["where"]) for f in findings}
    assert ("invalid-json", "Encounter.ndjson:101") in kinds
    assert ("missing-field", "Encounter/no-status") in kinds
    assert summary["derivation"]["encounters_read"] == 100


def test_observation_chunks_do_not_change_results(
    synthea_dir: Path,
    tmp_path: Path,
    synthea_run: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Extract spills rows in chunks; tiny chunks give the same reports as one big one."""
    from fhir_microsystems.pipeline import _encounter_months, _extract

    monkeypatch.setattr(_extract, "OBSERVATION_CHUNK", 7)
    monkeypatch.setattr(_encounter_months, "ENCOUNTER_CHUNK", 5)
    run_in_process(RunSpec(source=str(synthea_dir), out_dir=str(tmp_path)))
    first, _ = synthea_run
    assert (tmp_path / "MeasureReport.ndjson").read_bytes() == (
        first / "MeasureReport.ndjson"
    ).read_bytes()


def test_incremental_run_skips_an_unchanged_source(tmp_path: Path) -> None:
    """``since`` decides whether to re-assess; it never narrows what is read."""
    from datetime import UTC, datetime, timedelta

    from fhir_microsystems.synth import generate

    source = tmp_path / "src"
    generate(source, seed=2, patients=120, months=2)
    out = tmp_path / "out"
    full = run_in_process(RunSpec(source=str(source), out_dir=str(out)))
    before = (out / "MeasureReport.ndjson").read_bytes()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    skipped = run_in_process(RunSpec(source=str(source), out_dir=str(out), since=later))
    assert skipped["derivation"] == {"unchanged_since": later}
    assert skipped["results"] == []
    assert (out / "MeasureReport.ndjson").read_bytes() == before
    earlier = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    again = run_in_process(RunSpec(source=str(source), out_dir=str(out), since=earlier))
    assert again["derivation"] == full["derivation"]  # everything re-derived, not only changes
    assert (out / "MeasureReport.ndjson").read_bytes() == before


def test_bad_patient_lines_are_reported_once(tmp_path: Path, synthea_dir: Path) -> None:
    """Every extract partition reads the Patients to resolve references; the bad line is
    still one finding, reported by the derive stage."""
    src = tmp_path / "src"
    src.mkdir()
    for path in synthea_dir.glob("*.ndjson"):
        if path.name not in ("Patient.ndjson", "Observation.ndjson"):
            (src / path.name).write_bytes(path.read_bytes())
    (src / "Patient.ndjson").write_bytes((synthea_dir / "Patient.ndjson").read_bytes() + b"{bad\n")
    observations = (synthea_dir / "Observation.ndjson").read_bytes().splitlines(keepends=True)
    half = len(observations) // 2
    (src / "Observation.1.ndjson").write_bytes(b"".join(observations[:half]))
    (src / "Observation.2.ndjson").write_bytes(b"".join(observations[half:]))
    run_in_process(RunSpec(source=str(src), out_dir=str(tmp_path / "out")))
    findings = [
        orjson.loads(x) for x in (tmp_path / "out" / "findings.ndjson").read_bytes().splitlines()
    ]
    bad = [f for f in findings if f["where"].startswith("Patient.ndjson:")]
    assert [f["kind"] for f in bad] == ["invalid-json"]
