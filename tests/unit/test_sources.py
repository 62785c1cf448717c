"""NDJSON source and reference resolution: streaming, bad lines counted, three reference forms."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Findings
from fhir_microsystems.sources import ListSource, NdjsonSource, ReferenceIndex, check_resource
from tests.support.datasets import encounter_clinicians, line_count

NPI = "http://hl7.org/fhir/sid/us-npi"
BASE = "https://ehr.example/fhir"


def _write(path: Path, lines: list[object | bytes]) -> None:
    with path.open("wb") as fh:
        for line in lines:
            fh.write(line if isinstance(line, bytes) else orjson.dumps(line))
            fh.write(b"\n")


def _practitioner(rid: str, npi: str) -> dict[str, object]:
    return {
        "resourceType": "Practitioner",
        "id": rid,
        "identifier": [{"system": NPI, "value": npi}],
    }


@pytest.fixture
def bulk_dir(tmp_path: Path) -> Path:
    _write(
        tmp_path / "Practitioner.ndjson",
        [
            _practitioner("p1", "111"),
            _practitioner("p2", "222"),
        ],
    )  # fmt: skip
    _write(
        tmp_path / "Organization.ndjson",
        [
            {"resourceType": "Organization", "id": "hosp", "name": "Hospital"},
            {
                "resourceType": "Organization",
                "id": "ed",
                "partOf": {"reference": "Organization/hosp"},
            },
        ],
    )
    _write(
        tmp_path / "PractitionerRole.ndjson",
        [
            {
                "resourceType": "PractitionerRole",
                "id": "r1",
                "practitioner": {"identifier": {"system": NPI, "value": "111"}},
                "organization": {"reference": "Organization/ed"},
                "code": [{"coding": [{"system": "s", "code": "doctor"}]}],
            }
        ],
    )
    _write(
        tmp_path / "Encounter.000.ndjson",
        [
            {"resourceType": "Encounter", "id": "e1", "status": "finished", "class": {"code": "X"}},
            b"{not json",
            {"resourceType": "Encounter", "id": "e2", "class": {"code": "AMB"}},
        ],
    )  # fmt: skip
    with gzip.open(tmp_path / "Encounter.001.ndjson.gz", "wb") as fh:
        fh.write(orjson.dumps({"resourceType": "Observation", "id": "o1"}) + b"\n")
        fh.write(b"\n")
        fh.write(
            orjson.dumps(
                {
                    "resourceType": "Encounter",
                    "id": "e3",
                    "status": "planned",
                    "class": {"code": "AMB"},
                }
            )
            + b"\n"
        )
    (tmp_path / "manifest.json").write_bytes(
        orjson.dumps({"request": f"{BASE}/$export?_type=Encounter", "output": []})
    )
    (tmp_path / "README.txt").write_text("not a bulk file")
    return tmp_path


def test_streams_all_parts_and_counts_bad_lines(bulk_dir: Path) -> None:
    source = NdjsonSource(bulk_dir)
    assert source.resource_types() == [
        "Encounter",
        "Organization",
        "Practitioner",
        "PractitionerRole",
    ]
    ids = [r["id"] for r in source.iter_resources("Encounter")]
    assert ids == ["e1", "e3"]
    found = {(f.kind, f.where, f.field) for f in source.findings}
    assert found == {
        ("invalid-json", "Encounter.000.ndjson:2", ""),
        ("missing-field", "Encounter/e2", "Encounter.status"),
        ("wrong-resource-type", "Encounter.001.ndjson.gz:1", "resourceType"),
    }
    assert source.findings.total == 3


def test_base_url_from_manifest(bulk_dir: Path) -> None:
    assert NdjsonSource(bulk_dir).base_urls == (BASE,)
    assert NdjsonSource(bulk_dir, base_urls=("https://x/fhir/",)).base_urls == ("https://x/fhir",)


def test_not_a_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        NdjsonSource(tmp_path / "missing")


def test_reference_forms_resolve_to_one_key(bulk_dir: Path) -> None:
    source = NdjsonSource(bulk_dir)
    index = ReferenceIndex.build(source)
    kw: dict[str, Any] = {"where": "Encounter/e1", "field": "Encounter.participant.individual"}
    assert index.resolve({"reference": "Practitioner/p1"}, **kw) == "Practitioner/p1"
    assert index.resolve({"reference": "Practitioner/p1/_history/3"}, **kw) == "Practitioner/p1"
    assert index.resolve({"reference": f"{BASE}/Practitioner/p2"}, **kw) == "Practitioner/p2"
    assert (
        index.resolve({"reference": f"Practitioner?identifier={NPI}|222"}, **kw)
        == "Practitioner/p2"
    )
    assert (
        index.resolve({"type": "Practitioner", "identifier": {"system": NPI, "value": "111"}}, **kw)
        == "Practitioner/p1"
    )
    assert index.resolve({"reference": "PractitionerRole/r1"}, **kw) == "PractitionerRole/r1"
    assert index.practitioner("PractitionerRole/r1") == "Practitioner/p1"
    assert index.practitioner("Practitioner/p2") == "Practitioner/p2"
    assert source.findings.total == 0
    # Types the index does not hold are accepted when well-formed.
    assert index.resolve({"reference": "Encounter/zzz"}, **kw) == "Encounter/zzz"


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ({"reference": "Practitioner/nope"}, "Practitioner not found"),
        ({"reference": "https://other.example/fhir/Practitioner/p1"}, "another server"),
        (
            {"reference": f"Practitioner?identifier={NPI}|999"},
            "no Practitioner with that identifier",
        ),
        ({"reference": "#contained"}, "contained"),
        ({"reference": "not a reference"}, "malformed"),
        ({"display": "Dr. Nobody"}, "neither reference nor"),
        ("Practitioner/p1", "not an object"),
        ({"reference": "Organization/ed"}, "expected Practitioner"),
    ],
)
def test_unresolvable_reference_is_a_finding(
    bulk_dir: Path, reference: object, reason: str
) -> None:
    source = NdjsonSource(bulk_dir)
    index = ReferenceIndex.build(source)
    key = index.resolve(
        reference,
        where="Encounter/e1",
        field="Encounter.participant.individual",
        expected="Practitioner",
    )
    assert key is None
    [finding] = list(source.findings)
    assert finding.kind == "unresolved-reference"
    assert finding.where == "Encounter/e1"
    assert finding.field == "Encounter.participant.individual"
    assert reason in finding.message


def test_hierarchy_and_roles(bulk_dir: Path) -> None:
    index = ReferenceIndex.build(NdjsonSource(bulk_dir))
    assert index.organization_parent("Organization/ed") == "Organization/hosp"
    assert index.organization_ancestors("Organization/ed") == ["Organization/hosp"]
    [role] = index.roles_of("Practitioner/p1")
    assert role.organization == "Organization/ed"
    assert role.codes == (("s", "doctor", ""),)


def test_list_source_checks_like_files() -> None:
    source = ListSource({"Encounter": [{"resourceType": "Encounter", "id": "a"}, {"id": "b"}]})
    assert list(source.iter_resources("Encounter")) == []
    assert source.findings.counts == {"missing-field": 1, "wrong-resource-type": 1}


@pytest.mark.parametrize(
    "obj",
    [
        {"resourceType": "Encounter", "id": "a", "status": "finished", "class": {"code": "AMB"}},
        {"resourceType": "Encounter", "id": "a", "status": "finished", "class": {}},
        {"resourceType": "Encounter", "id": "a", "status": "", "class": {"code": "AMB"}},
        {"resourceType": "Encounter", "id": "", "status": "finished", "class": {"code": "AMB"}},
        {"resourceType": "Encounter", "id": 7, "status": "finished", "class": {"code": "AMB"}},
        {"resourceType": "Observation", "id": "a", "status": "final", "code": {}},
        {"id": "a"},
        ["Encounter"],
        None,
    ],
)
def test_ndjson_lines_are_checked_as_check_resource_checks(obj: object, tmp_path: Path) -> None:
    (tmp_path / "Encounter.ndjson").write_bytes(b"\n" + orjson.dumps(obj) + b"\n")
    source = NdjsonSource(tmp_path)
    read = list(source.iter_resources("Encounter"))
    findings = Findings()
    expected = check_resource(obj, "Encounter", "Encounter.ndjson:2", findings)
    assert read == ([] if expected is None else [obj])
    assert source.findings.counts == findings.counts
    assert [f.where for f in source.findings] == [f.where for f in findings]


def test_shared_synthea_every_participant_resolves(synthea_dir: Path) -> None:
    source = NdjsonSource(synthea_dir)
    index = ReferenceIndex.build(source)
    practitioners = set()
    encounters = 0
    for enc in source.iter_resources("Encounter"):
        encounters += 1
        where = f"Encounter/{enc['id']}"
        for part in enc.get("participant", ()):
            key = index.resolve(
                part.get("individual"), where=where, field="Encounter.participant.individual"
            )
            practitioners.add(index.practitioner(key))
        assert index.resolve(
            enc["serviceProvider"],
            where=where,
            field="Encounter.serviceProvider",
            expected="Organization",
        )
    assert encounters == line_count(synthea_dir, "Encounter")
    assert len(practitioners) == len(encounter_clinicians(synthea_dir))  # all resolve
    assert None not in practitioners
    assert source.findings.total == 0
