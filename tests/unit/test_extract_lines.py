"""The Observation extract on whole NDJSON files: bad lines are findings named by file:line,
in line order, and never stop the SQL."""

from __future__ import annotations

from pathlib import Path

import orjson

from fhir_microsystems._findings import Findings
from fhir_microsystems.extract import ObservationExtract
from fhir_microsystems.sources import NdjsonSource


def _observation(rid: str, **extra: object) -> bytes:
    resource = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-03-01T10:00:00Z",
        "valueInteger": 4,
        **extra,
    }
    return orjson.dumps(resource)


def test_bad_lines_are_findings_in_line_order(tmp_path: Path) -> None:
    lines = [
        _observation("o1"),
        b"this is not JSON",
        b"[1, 2]",
        b'{"resourceType": "Patient", "id": "p1"}',
        b"\xff\xfe not UTF-8",
        b"",
        _observation("o2", valueString="x", code={"text": "uncoded"}),
        b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}}',
        _observation("o3", status="entered-in-error"),
        # read again after the source's check: its rules apply as to any other line
        _observation("o4", code={"text": "x"}, category=[{"coding": [{"code": "survey"}]}]),
        _observation("o5")[:-1] + b",}",  # JSON to DuckDB (a trailing comma), not to orjson
    ]
    (tmp_path / "Observation.ndjson").write_bytes(b"\n".join(lines))  # no final newline
    source = NdjsonSource(tmp_path)
    [block] = source.iter_line_blocks(tmp_path / "Observation.ndjson")
    findings = Findings()
    extract = ObservationExtract(findings, where=lambda n: f"Observation.ndjson:{n}")
    try:
        facts = extract.batch(block)
    finally:
        extract.close()
    assert facts["key"].to_pylist() == ["Observation/o1", "Observation/o2", "Observation/o4"]
    assert facts["kind"].to_pylist() == ["pain", "other", "experience"]
    assert facts["value"].to_pylist() == [4.0, None, 4.0]
    assert facts["complete"].to_pylist() == [True, False, False]
    assert [(f.kind, f.where) for f in findings] == [
        ("invalid-json", "Observation.ndjson:2"),
        ("not-an-object", "Observation.ndjson:3"),
        ("wrong-resource-type", "Observation.ndjson:4"),
        ("invalid-json", "Observation.ndjson:5"),
        ("missing-code", "Observation/o2"),
        ("missing-field", "Observation.ndjson:8"),
        ("ignored-status", "Observation/o3"),
        ("missing-code", "Observation/o4"),
        ("invalid-json", "Observation.ndjson:11"),
    ]
    assert extract.resources == 4  # o1 to o4 were Observations; the rest were not
    assert source.lines_read == 10  # the blank line is not counted
