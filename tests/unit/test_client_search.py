"""Paged search: next links followed verbatim, include separation, origin refusal, params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from fhir_microsystems._errors import FatalFhirError, InputError, ResourceGoneError
from fhir_microsystems.client import FhirClient, RetryPolicy, fhir_instant, search_params

BASE = "https://fhir.example.test/fhir"


def bundle(entries: list[dict[str, object]], next_url: str | None = None) -> dict[str, object]:
    links = [{"relation": "self", "url": "ignored"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}


def match(rtype: str, rid: str, mode: str | None = "match") -> dict[str, object]:
    entry: dict[str, object] = {"resource": {"resourceType": rtype, "id": rid}}
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def sent_kwargs(call_index: int) -> dict[str, Any]:
    """The keyword arguments requests.Session.send received (recorded by ``responses``)."""
    return cast(dict[str, Any], cast(Any, responses.calls[call_index].request).req_kwargs)


@pytest.fixture
def client() -> FhirClient:
    return FhirClient(BASE, retry=RetryPolicy(sleep=lambda _: None))


def query(call_index: int) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(str(responses.calls[call_index].request.url)).query)


@responses.activate
def test_pages_follow_next_links_exactly(client: FhirClient) -> None:
    opaque = f"{BASE}?_getpages=abc%2Fdef&_pageId=2&_bundletype=searchset"
    responses.get(f"{BASE}/Encounter", json=bundle([match("Encounter", "e1")], opaque))
    responses.get(opaque, json=bundle([match("Encounter", "e2"), match("Encounter", "e3", None)]))

    pages = list(client.search_pages("Encounter", {"status": "finished"}, count=2))

    assert [[r["id"] for r in p.matches] for p in pages] == [["e1"], ["e2", "e3"]]
    assert responses.calls[1].request.url == opaque
    assert query(0) == [("status", "finished"), ("_count", "2")]
    assert len(responses.calls) == 2


@responses.activate
def test_search_yields_only_matches_and_pages_separate_includes(client: FhirClient) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    entries = [
        match("CareTeam", "c1"),
        match("Practitioner", "p1", "include"),
        {"resource": outcome, "search": {"mode": "outcome"}},
        match("CareTeam", "c2"),
    ]
    responses.get(f"{BASE}/CareTeam", json=bundle(entries))

    page = next(client.search_pages("CareTeam", include=["CareTeam:participant"]))
    assert [r["id"] for r in page.matches] == ["c1", "c2"]
    assert [r["id"] for r in page.included] == ["p1"]
    assert page.outcomes == [outcome]
    assert query(0) == [("_include", "CareTeam:participant")]
    assert [r["id"] for r in client.search("CareTeam")] == ["c1", "c2"]


@responses.activate
def test_search_streams_lazily(client: FhirClient) -> None:
    responses.get(f"{BASE}/Observation", json=bundle([match("Observation", "o1")], f"{BASE}/p2"))
    responses.get(f"{BASE}/p2", json=bundle([match("Observation", "o2")]))
    results = client.search("Observation")
    assert next(results)["id"] == "o1"
    assert len(responses.calls) == 1
    assert [r["id"] for r in results] == ["o2"]


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example.test/fhir/page2",
        "http://fhir.example.test/fhir/page2",
        "https://fhir.example.test:8443/fhir/page2",
    ],
)
@responses.activate
def test_next_link_to_other_origin_is_refused(client: FhirClient, next_url: str) -> None:
    responses.get(f"{BASE}/Patient", json=bundle([match("Patient", "a")], next_url))
    pages = client.search_pages("Patient")
    assert next(pages).matches[0]["id"] == "a"
    with pytest.raises(FatalFhirError, match="another origin"):
        next(pages)
    assert len(responses.calls) == 1


@responses.activate
def test_same_origin_with_explicit_default_port_is_followed(client: FhirClient) -> None:
    next_url = "https://fhir.example.test:443/fhir/page2"
    responses.get(f"{BASE}/Patient", json=bundle([match("Patient", "a")], next_url))
    responses.get(next_url, json=bundle([match("Patient", "b")]))
    assert [r["id"] for r in client.search("Patient")] == ["a", "b"]


@responses.activate
def test_repeated_next_link_is_refused(client: FhirClient) -> None:
    page2 = f"{BASE}/p2"
    responses.get(f"{BASE}/Patient", json=bundle([match("Patient", "a")], page2))
    responses.get(page2, json=bundle([match("Patient", "b")], page2))
    with pytest.raises(FatalFhirError, match="repeats"):
        list(client.search("Patient"))


@responses.activate
def test_gone_next_link_raises_resource_gone(client: FhirClient) -> None:
    page2 = f"{BASE}?_getpages=x&page=2"
    responses.get(f"{BASE}/Encounter", json=bundle([match("Encounter", "e1")], page2))
    gone = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "expired"}],
    }
    responses.get(page2, json=gone, status=410)
    with pytest.raises(ResourceGoneError) as info:
        list(client.search("Encounter"))
    assert info.value.status == 410
    assert info.value.outcome == "error: expired"
    assert "page=*" in info.value.url and "page=2" not in info.value.url


@responses.activate
def test_non_bundle_answer_is_fatal(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json={"resourceType": "Patient", "id": "x"})
    with pytest.raises(FatalFhirError, match="Bundle"):
        list(client.search("Encounter"))


@responses.activate
def test_since_and_repeated_keys(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    since = datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    list(client.search("Encounter", [("date", "ge2020"), ("date", "lt2021")], since=since))
    assert query(0) == [
        ("date", "ge2020"),
        ("date", "lt2021"),
        ("_lastUpdated", "gt2024-03-01T10:30:00Z"),
    ]


@responses.activate
def test_date_ranges_on_search(client: FhirClient) -> None:
    responses.get(f"{BASE}/Encounter", json=bundle([]))
    list(client.search("Encounter", date_ranges={"date": ("2020-01-01", None)}, count=50))
    assert query(0) == [("date", "ge2020-01-01"), ("_count", "50")]


def test_search_params_helpers() -> None:
    pairs = search_params(
        {"status": ["finished", "in-progress"], "_count": 5},
        date_ranges={"date": (datetime(2020, 1, 1, tzinfo=UTC), "2021-01-01")},
        revinclude=["Observation:encounter"],
    )
    assert pairs == [
        ("status", "finished"),
        ("status", "in-progress"),
        ("_count", "5"),
        ("date", "ge2020-01-01T00:00:00Z"),
        ("date", "lt2021-01-01"),
        ("_revinclude", "Observation:encounter"),
    ]
    moment = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert fhir_instant(moment) == "2024-01-02T03:04:05.678Z"
    with pytest.raises(InputError):
        fhir_instant(datetime(2024, 1, 1))  # naive: ambiguous


@responses.activate
def test_read_and_request_headers(client: FhirClient) -> None:
    responses.get(f"{BASE}/Patient/p-1", json={"resourceType": "Patient", "id": "p-1"})
    assert client.read("Patient", "p-1") == {"resourceType": "Patient", "id": "p-1"}
    headers = responses.calls[0].request.headers
    assert headers["Accept"] == "application/fhir+json"
    assert headers["Accept-Encoding"] == "gzip"
    assert headers["User-Agent"].startswith("fhir-microsystems/")
    assert "Authorization" not in headers
    with pytest.raises(InputError):
        client.read("Patient", "../metadata")


@responses.activate
def test_every_request_has_connect_and_read_timeouts() -> None:
    responses.get(f"{BASE}/Patient/a", json={"resourceType": "Patient", "id": "a"})
    with FhirClient(BASE, timeout=(2.0, 30.0)) as client:
        client.read("Patient", "a")
    assert sent_kwargs(0)["timeout"] == (2.0, 30.0)
    assert sent_kwargs(0)["verify"] not in (False, None)


@responses.activate
def test_ca_bundle_path_is_passed_on() -> None:
    responses.get(f"{BASE}/Patient/a", json={"resourceType": "Patient", "id": "a"})
    with FhirClient(BASE, verify="corp-ca.pem") as client:
        client.read("Patient", "a")
    assert sent_kwargs(0)["verify"] == "corp-ca.pem"
