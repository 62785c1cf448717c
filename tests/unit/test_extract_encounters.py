"""The Encounter extract: the SQL reads the encounters with nothing to report, Python
(``encounter_record``) the rest, and which of the two reads a line changes neither its record
nor its findings. Each line below is checked against ``encounter_record`` run on that line
alone, with the same index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.derive.records import EncounterRecord, encounter_record
from fhir_microsystems.extract import ENCOUNTER_SCHEMA, EncounterExtract, PatientRow, patient_row
from fhir_microsystems.sources import LineBlock, ListSource, NdjsonSource, ReferenceIndex
from tests.support.encounter_rows import records_of
from tests.support.lines import read_alone

BASE = "https://ehr.example.org/fhir"
_NPI = "http://hl7.org/fhir/sid/us-npi"


def _resource(rtype: str, rid: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": rtype, "id": rid, **fields}


def _ref(key: str) -> dict[str, str]:
    return {"reference": key}


def _index() -> ReferenceIndex:
    npi = [{"system": _NPI, "value": f"10{n}"} for n in range(4)]
    source = ListSource(
        {
            "Organization": [
                _resource("Organization", "hosp"),
                _resource("Organization", "ed", partOf=_ref("Organization/hosp")),
                _resource("Organization", "other"),
            ],
            "Location": [
                _resource("Location", "bay", managingOrganization=_ref("Organization/ed")),
                _resource("Location", "away", managingOrganization=_ref("Organization/other")),
            ],
            "Practitioner": [
                _resource("Practitioner", f"dr{n}", identifier=[npi[n]]) for n in range(4)
            ],
            "PractitionerRole": [
                _resource("PractitionerRole", "r1", practitioner=_ref("Practitioner/dr1")),
                _resource("PractitionerRole", "vacant"),
            ],
            "Patient": [
                _resource("Patient", "p1", gender="female", birthDate="1950-02-03"),
                _resource("Patient", "p2", gender=7, deceasedDateTime="2025-03-09T00:00:00Z"),
            ],
        },
        base_urls=[BASE],
    )
    return ReferenceIndex.build(source)


def _enc(rid: str, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"code": "EMER"},
        "period": {"start": "2025-03-01T10:00:00-05:00", "end": "2025-03-01T14:30:00Z"},
        "participant": [
            {"individual": {"reference": "Practitioner/dr0"}},
            {"individual": {"reference": "PractitionerRole/r1"}},
        ],
        "serviceProvider": {"reference": "Organization/hosp"},
        "location": [{"location": {"reference": "Location/bay"}}],
        "subject": {"reference": "Patient/p1"},
        "hospitalization": {"dischargeDisposition": {"coding": [{"code": "home"}]}},
    }
    resource.update(extra)
    return {k: v for k, v in resource.items() if v is not _DROP}


_DROP: Any = object()
#: The participant limit of these tests.
_MOST = 10
_ITEM = "individual"

#: Lines the SQL reads whole (nothing to report), each unlike the plain one in some way.
CLEAN: list[Any] = [
    _enc("plain"),
    _enc("no-end", period={"start": "2025-03-02T08:00:00Z"}),
    _enc("null-end", period={"start": "2025-03-02T08:00:00Z", "end": None}),
    _enc("fraction", period={"start": "2025-03-03T08:00:00.25+01:00", "end": "2025-03-03"}),
    _enc("month-end", period={"start": "2025-03-04T08:00:00Z", "end": "2025-03"}),
    _enc(
        "repeats",
        participant=[
            {_ITEM: {"reference": "Practitioner/dr2"}},
            {_ITEM: {"reference": "PractitionerRole/r1"}},  # dr1
            {_ITEM: {"reference": "Practitioner/dr1"}},  # named twice: once
            {"type": [{"text": "no individual"}]},
            {_ITEM: {"reference": "RelatedPerson/aunt"}},  # not a clinician: skipped
            {_ITEM: {"type": "Practitioner", "identifier": {"system": _NPI, "value": "103"}}},
            {_ITEM: {"identifier": {"system": _NPI, "value": "100"}}},  # typed by the field
            {_ITEM: {"reference": f"{BASE}/Practitioner/dr2"}},
            5,
        ],
    ),
    _enc("no-people", participant=[]),
    _enc("no-participant", participant=_DROP, location=_DROP, serviceProvider=_DROP),
    _enc("loc-only", serviceProvider=_DROP),
    _enc("elsewhere", location=[{"location": {"reference": "Location/away"}}]),
    _enc(
        "later-loc",
        location=[{"status": "planned"}, "x", {"location": {"reference": "Location/bay"}}],
    ),
    _enc("absolute", subject={"reference": f"{BASE}/Patient/p2"}),
    _enc("class-text", **{"class": {"code": 5}}),
    _enc("class-string", **{"class": "EMER"}),
    _enc(
        "dispositions",
        hospitalization={"dischargeDisposition": {"coding": [{"code": 1}, "x", {"code": "snf"}]}},
    ),
    _enc("odd-hosp", hospitalization={"dischargeDisposition": {"coding": {"code": "home"}}}),
    _enc("no-hosp", hospitalization="home"),
    _enc("void", status="entered-in-error"),
]

#: Lines with something to report (read by ``encounter_record``), and lines that are not
#: usable Encounters (read by the source's check).
NOISY: list[Any] = [
    _enc("bad-start", period={"start": "March", "end": "2025-03-01T14:30:00Z"}),
    _enc("bad-end", period={"start": "2025-03-01T10:00:00Z", "end": "2025-13-01"}),
    _enc("number-start", period={"start": 20250301}),
    _enc("no-start", period={"end": "2025-03-01T14:30:00Z"}),
    _enc(
        "start-from-people",
        period={},
        participant=[
            {_ITEM: {"reference": "Practitioner/dr0"}, "period": {"start": "soon"}},
            {_ITEM: {"reference": "Practitioner/dr1"}, "period": {"start": "2025-03-05T09:00:00Z"}},
        ],
    ),
    _enc("period-string", period="2025-03-01"),
    _enc("unknown-dr", participant=[{_ITEM: {"reference": "Practitioner/nobody"}}]),
    _enc("vacant-role", participant=[{_ITEM: {"reference": "PractitionerRole/vacant"}}]),
    _enc("contained", participant=[{_ITEM: {"reference": "#p"}}]),
    _enc("people-dict", participant={_ITEM: {"reference": "Practitioner/dr0"}}),
    _enc("people-number", participant=5),
    _enc("people-null", participant=None),
    _enc("crowd", participant=[{_ITEM: {"reference": "Practitioner/dr0"}}] * (_MOST + 1)),
    _enc("bad-provider", serviceProvider={"reference": "Location/bay"}),
    _enc(
        "lost-first-loc",
        location=[
            {"location": {"reference": "Location/gone"}},
            {"location": {"reference": "Location/bay"}},
        ],
    ),
    _enc("locations-dict", location={"location": {"reference": "Location/bay"}}),
    _enc("no-subject", subject=_DROP),
    _enc("null-subject", subject=None),
    _enc("unknown-patient", subject={"reference": "Patient/nobody"}),
    _enc("elsewhere-patient", subject={"reference": "https://other.example/fhir/Patient/p1"}),
    _enc("status-number", status=3),
    _enc("names-participant", participant=_DROP, extension=[{"participant": 1}]),
    b"not JSON at all",
    # JSON to DuckDB, not to a strict reader: the source's finding, as for any bad line
    orjson.dumps(_enc("trailing-comma"))[:-1] + b",}",
    orjson.dumps(_enc("not-a-number")).replace(
        b'"status":"finished"', b'"length":NaN,"status":"finished"'
    ),
    # looks like one inside a string only: read (in Python) as the resource it is
    orjson.dumps(_enc("comma-in-text", reasonCode=[{"text": ", ]"}])),
    b"\xff\xfe not UTF-8",
    b'{"resourceType": "Patient", "id": "p1"}',
    orjson.dumps(_enc("no-status", status="")),
    orjson.dumps(_enc("../x")),
    b"[1, 2]",
]


def _lines(items: list[Any]) -> list[bytes]:
    return [item if isinstance(item, bytes) else orjson.dumps(item) for item in items]


def _by_python(lines: list[bytes], index: ReferenceIndex) -> tuple[list[Any], list[Finding]]:
    """Each line read as the source and ``encounter_record`` read it, alone."""
    findings = Findings()
    index.findings = findings

    def record(resource: dict[str, Any]) -> tuple[EncounterRecord, PatientRow | None]:
        rec = encounter_record(resource, index, findings, max_participants=_MOST)
        return rec, patient_row(index, rec.patient)

    return read_alone(lines, "Encounter", findings, record), list(findings)


def _by_extract(
    lines: list[bytes], index: ReferenceIndex, *, checked: bool = False
) -> tuple[list[Any], list[Finding], EncounterExtract]:
    findings = Findings()
    index.findings = findings
    extract = EncounterExtract(
        index, findings, where=lambda n: f"Encounter.ndjson:{n}", max_participants=_MOST
    )
    try:
        numbers = pa.array(range(1, len(lines) + 1), pa.int64())
        table = extract.batch(
            LineBlock(numbers, pa.array(lines, pa.large_binary())), checked=checked
        )
    finally:
        extract.close()
    assert table.schema == ENCOUNTER_SCHEMA
    return list(records_of(table)), list(findings), extract


def test_clean_encounters_are_read_in_sql_as_python_reads_them() -> None:
    index = _index()
    lines = _lines(CLEAN)
    expected_rows, expected_findings = _by_python(lines, index)
    rows, findings, extract = _by_extract(lines, index)
    assert expected_findings == [] and findings == []
    assert rows == expected_rows
    assert extract.in_python == 0 and extract.resources == len(CLEAN)
    first = rows[0][0]
    assert first.participants == ("Practitioner/dr0", "Practitioner/dr1")
    assert first.context == "Organization/ed"  # the Location's organisation, under the provider
    repeats = next(rec for rec, _ in rows if rec.key == "Encounter/repeats")
    assert repeats.participants == (
        "Practitioner/dr2",
        "Practitioner/dr1",
        "Practitioner/dr3",
        "Practitioner/dr0",
    )


def test_noisy_lines_give_the_records_and_findings_of_python_in_line_order() -> None:
    index = _index()
    lines = _lines([*NOISY[:6], CLEAN[0], *NOISY[6:], CLEAN[5]])
    expected_rows, expected_findings = _by_python(lines, index)
    rows, findings, extract = _by_extract(lines, index)
    assert findings == expected_findings
    assert rows == expected_rows
    assert extract.in_python == len(rows) - 2  # all but the two clean ones
    kinds = {f.kind for f in findings}
    assert kinds >= {
        "invalid-datetime",
        "unresolved-reference",
        "invalid-element",
        "too-many-participants",
        "missing-field",
        "invalid-json",
        "invalid-id",
        "wrong-resource-type",
        "not-an-object",
    }


def test_search_results_are_read_as_checked_resources() -> None:
    index = _index()
    lines = _lines([CLEAN[0], NOISY[0], CLEAN[3]])
    expected_rows, expected_findings = _by_python(lines, index)
    rows, findings, _ = _by_extract(lines, index, checked=True)
    assert (rows, findings) == (expected_rows, expected_findings)


@pytest.mark.parametrize("memo", [1, 2])
def test_forgetting_resolved_references_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, memo: int
) -> None:
    from fhir_microsystems.extract import encounters

    index = _index()
    lines = _lines(CLEAN)
    expected = _by_extract(lines, index)[:2]
    monkeypatch.setattr(encounters, "_MEMO", memo)
    findings = Findings()
    index.findings = findings
    extract = EncounterExtract(index, findings, max_participants=_MOST)
    rows: list[Any] = []
    try:
        for start in range(0, len(lines), 3):  # batches of three: the memo is emptied often
            part = lines[start : start + 3]
            numbers = pa.array(range(start + 1, start + 1 + len(part)), pa.int64())
            rows += records_of(extract.batch(LineBlock(numbers, pa.array(part, pa.large_binary()))))
    finally:
        extract.close()
    assert (rows, list(findings)) == expected


def test_the_pipeline_extract_reads_a_file_whole(tmp_path: Path) -> None:
    """Through the source's blocks: blank and too-long lines are the source's findings."""
    lines = [*_lines([CLEAN[0], NOISY[0]]), b"", b"x" * 5000, orjson.dumps(_enc("last"))]
    (tmp_path / "Encounter.ndjson").write_bytes(b"\n".join(lines))
    source = NdjsonSource(tmp_path, max_line_bytes=4000)
    [block] = source.iter_line_blocks(tmp_path / "Encounter.ndjson")
    extract = EncounterExtract(_index(), source.findings, where=lambda n: f"Encounter.ndjson:{n}")
    try:
        table = extract.batch(block)
    finally:
        extract.close()
    assert table["key"].to_pylist() == ["Encounter/plain", "Encounter/bad-start", "Encounter/last"]
    assert [(f.kind, f.where) for f in source.findings] == [
        ("line-too-long", "Encounter.ndjson:4"),
        ("invalid-datetime", "Encounter/bad-start"),
    ]
