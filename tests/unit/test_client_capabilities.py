"""CapabilityStatement: read once, fail early naming exactly what is missing."""

from __future__ import annotations

import pytest
import responses

from fhir_microsystems._errors import CapabilityError
from fhir_microsystems.client import Capabilities, FhirClient

BASE = "https://fhir.example.test/fhir"


def statement(version: str = "4.0.1") -> dict[str, object]:
    return {
        "resourceType": "CapabilityStatement",
        "fhirVersion": version,
        "software": {"name": "Test Server"},
        "rest": [
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "searchParam": [{"name": "_lastUpdated", "type": "date"}],
                "resource": [
                    {
                        "type": "Encounter",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "date"}, {"name": "patient"}],
                    },
                    {"type": "CareTeam", "interaction": [{"code": "read"}], "searchParam": []},
                ],
            }
        ],
    }


@responses.activate
def test_metadata_is_read_once_and_parsed() -> None:
    responses.get(f"{BASE}/metadata", json=statement())
    client = FhirClient(BASE)
    caps = client.capabilities()
    assert client.capabilities() is caps
    assert len(responses.calls) == 1
    assert caps.fhir_version == "4.0.1"
    assert caps.software == "Test Server"
    assert caps.searches("Encounter") == {"date", "patient", "_lastUpdated"}
    assert caps.interactions("system") == {"transaction", "batch"}
    assert caps.interactions("Observation") == frozenset()


@responses.activate
def test_require_passes_when_everything_is_there() -> None:
    responses.get(f"{BASE}/metadata", json=statement())
    caps = FhirClient(BASE).require(
        searches={"Encounter": ["_lastUpdated", "date"]},
        interactions={"Encounter": ["read", "search-type"], "system": ["transaction"]},
    )
    assert caps.fhir_version == "4.0.1"


@responses.activate
def test_require_names_everything_missing() -> None:
    responses.get(f"{BASE}/metadata", json=statement())
    with pytest.raises(CapabilityError) as info:
        FhirClient(BASE).require(
            searches={
                "Encounter": ["_lastUpdated", "date", "practitioner"],
                "Observation": ["date"],
            },
            interactions={"CareTeam": ["read", "search-type"], "system": ["history-system"]},
        )
    assert info.value.details["missing"] == [
        "search Encounter?practitioner",
        "no Observation resource",
        "interaction CareTeam search-type",
        "interaction system history-system",
    ]
    assert "search Encounter?practitioner" in str(info.value)


@responses.activate
def test_require_refuses_fhir_5() -> None:
    responses.get(f"{BASE}/metadata", json=statement("5.0.0"))
    with pytest.raises(CapabilityError, match=r"server is FHIR 5\.0\.0, not R4"):
        FhirClient(BASE).require()


def test_undeclared_version_and_client_mode_rest_ignored() -> None:
    caps = Capabilities.from_statement(
        {"rest": [{"mode": "client", "resource": [{"type": "Patient"}]}]}
    )
    assert caps.resources == {}
    assert caps.missing() == ["server is of no declared version, not R4"]
