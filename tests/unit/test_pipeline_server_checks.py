"""A run against a server fails early, clearly, when the server cannot serve it."""

from __future__ import annotations

import pytest
import responses

from fhir_microsystems._errors import CapabilityError
from fhir_microsystems.pipeline import MemoryStore, RunSpec, plan
from fhir_microsystems.pipeline._common import SOURCE_TYPES

BASE = "https://ehr.example/fhir"
#: The types a run reads other than the two searched by date (given their searches below).
TYPES = tuple(t for t in SOURCE_TYPES if t not in ("Encounter", "Observation"))


def _statement(version: str, encounter_searches: list[str]) -> dict[str, object]:
    resources = [
        {"type": t, "interaction": [{"code": "search-type"}], "searchParam": []} for t in TYPES
    ]
    for t in ("Encounter", "Observation"):
        resources.append(
            {
                "type": t,
                "interaction": [{"code": "search-type"}],
                "searchParam": [{"name": n, "type": "date"} for n in encounter_searches],
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "kind": "instance",
        "fhirVersion": version,
        "rest": [{"mode": "server", "resource": resources}],
    }


@responses.activate
def test_a_capable_r4_server_is_planned() -> None:
    responses.get(f"{BASE}/metadata", json=_statement("4.0.1", ["_lastUpdated", "date"]))
    assert plan(RunSpec(source=BASE), MemoryStore(), "r") == [
        "encounters:all",
        "conditions:all",
        "observations:all",
    ]


@responses.activate
def test_not_r4_is_refused_before_reading() -> None:
    responses.get(f"{BASE}/metadata", json=_statement("5.0.0", ["_lastUpdated", "date"]))
    with pytest.raises(CapabilityError, match=r"5\.0\.0"):
        plan(RunSpec(source=BASE), MemoryStore(), "r")
    assert len(responses.calls) == 1  # nothing but /metadata was read


@responses.activate
def test_missing_search_is_named() -> None:
    responses.get(f"{BASE}/metadata", json=_statement("4.0.1", ["date"]))
    with pytest.raises(CapabilityError, match="_lastUpdated"):
        plan(RunSpec(source=BASE), MemoryStore(), "r")
