"""Tests of the FHIR test server (tests/fhir_server) itself, through tests.support.fhir_server."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.datasets import line_count
from tests.support.fhir_server import FhirServerError, FhirTestServer

pytestmark = pytest.mark.integration

FHIR_JSON = "application/fhir+json"
SYS = "https://example.org/ids"


@pytest.fixture(scope="module")
def server() -> Iterator[FhirTestServer]:
    with FhirTestServer(page_size=10) as srv:
        yield srv


@pytest.fixture
def fhir(server: FhirTestServer) -> Iterator[Client]:
    server.reset()
    client = Client(server)
    yield client
    client.session.close()


class Client:
    """Tiny FHIR client for the tests: JSON in/out, no retries."""

    def __init__(self, server: FhirTestServer) -> None:
        self.server = server
        self.base = server.base_url
        self.session = requests.Session()
        self.session.headers["Accept"] = FHIR_JSON

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}/{path.lstrip('/')}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kwargs)

    def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self.session.post(
            self.url(path),
            data=json.dumps(body),
            headers={"Content-Type": FHIR_JSON, **(headers or {})},
            timeout=30,
        )

    def put(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.put(
            self.url(path),
            data=json.dumps(body),
            headers={"Content-Type": FHIR_JSON, **(headers or {})},
            timeout=30,
        )

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url(path), timeout=30)

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        response = self.post(resource["resourceType"], resource)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def search_all(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Follow next links exactly as returned; return all bundles."""
        bundles = []
        response = self.get(path, params=params)
        while True:
            assert response.status_code == 200, response.text
            bundle = response.json()
            bundles.append(bundle)
            nxt = next_link(bundle)
            if nxt is None:
                return bundles
            response = self.get(nxt)


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", []):
        if link["relation"] == "next":
            return str(link["url"])
    return None


def match_ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def patient(identifier: str, family: str = "Test", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": SYS, "value": identifier}],
        "name": [{"family": family}],
        **extra,
    }


def diagnostics(outcome: dict[str, Any]) -> str:
    assert outcome["resourceType"] == "OperationOutcome"
    return " | ".join(i.get("diagnostics", "") for i in outcome["issue"])


# --- capability and loading -------------------------------------------------------------


def test_metadata_is_r4_capability_statement(fhir: Client) -> None:
    response = fhir.get("metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    assert rest["mode"] == "server"
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    by_type = {r["type"]: r for r in rest["resource"]}
    assert {"Patient", "Encounter", "Observation", "MeasureReport", "PractitionerRole"} <= set(
        by_type
    )
    assert "Project" not in by_type  # Medplum's own types are not advertised
    pat = by_type["Patient"]
    codes = {i["code"] for i in pat["interaction"]}
    assert {"read", "vread", "search-type", "create", "update"} <= codes
    assert pat["updateCreate"] is True
    assert pat["conditionalUpdate"] is True
    assert pat["conditionalCreate"] is True
    names = {p["name"] for p in pat["searchParam"]}
    assert {"identifier", "_id", "_lastUpdated", "organization", "general-practitioner"} <= names
    enc_names = {p["name"] for p in by_type["Encounter"]["searchParam"]}
    assert {"subject", "patient", "participant", "service-provider", "date"} <= enc_names


def _write_ndjson(directory: Path) -> None:
    org = {
        "resourceType": "Organization",
        "id": "org-1",
        "name": "Clinic One",
        "identifier": [{"system": SYS, "value": "org-1"}],
    }
    pat = {
        "resourceType": "Patient",
        "id": "pat-1",
        "name": [{"family": "Loaded"}],
        "gender": "female",
        "managingOrganization": {"reference": "Organization/org-1"},
    }
    enc = {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/pat-1"},
        "serviceProvider": {"reference": "Organization/org-1"},
    }
    (directory / "Organization.ndjson").write_text(json.dumps(org) + "\n")
    # gzip-compressed files are loaded too; a blank line is ignored
    (directory / "Patient.ndjson.gz").write_bytes(
        gzip.compress((json.dumps(pat) + "\n\n").encode())
    )
    (directory / "Encounter.ndjson").write_text(json.dumps(enc) + "\n")
    (directory / "README.txt").write_text("not loaded")


def test_load_ndjson_directory_keeps_ids(tmp_path: Path) -> None:
    _write_ndjson(tmp_path)
    with FhirTestServer(load_dir=tmp_path, validate_load=True) as srv:
        assert srv.count("Organization") == 1
        assert srv.count("Patient") == 1
        assert srv.count("Encounter") == 1
        assert srv.count("Observation") == 0
        session = requests.Session()
        enc = session.get(f"{srv.base_url}/Encounter/enc-1", timeout=30)
        assert enc.status_code == 200
        body = enc.json()
        assert body["subject"] == {"reference": "Patient/pat-1"}
        assert body["meta"]["versionId"]
        assert body["meta"]["lastUpdated"].endswith("Z")
        bundle = session.get(
            f"{srv.base_url}/Encounter",
            params={"_include": ["Encounter:subject", "Encounter:service-provider"]},
            timeout=30,
        ).json()
        assert match_ids(bundle) == ["Encounter/enc-1"]
        assert sorted(match_ids(bundle, "include")) == ["Organization/org-1", "Patient/pat-1"]
        session.close()
        assert "loaded 3 resources from 3 files" in srv.stderr_tail()


def test_load_failure_reports_file_line_and_validator_message(tmp_path: Path) -> None:
    bad = {"resourceType": "Observation", "id": "obs-bad"}
    (tmp_path / "Observation.ndjson").write_text(json.dumps(bad) + "\n")
    with pytest.raises(FhirServerError) as info:
        FhirTestServer(load_dir=tmp_path, validate_load=True).start()
    message = str(info.value)
    assert "exited with code 3" in message
    assert "Observation.ndjson:1" in message
    assert "Missing required property" in message


def test_synthea_dataset_loads(synthea_dir: Path) -> None:
    with FhirTestServer(load_dir=synthea_dir) as srv:
        counts = {
            t: srv.count(t)
            for t in ("Patient", "Encounter", "Observation", "Practitioner", "CareTeam")
        }
        assert counts == {t: line_count(synthea_dir, t) for t in counts}
        assert all(counts.values())
        session = requests.Session()
        # Synthea's conditional references are resolvable with an identifier search.
        enc = session.get(f"{srv.base_url}/Encounter", params={"_count": 1}, timeout=30).json()
        ref = enc["entry"][0]["resource"]["participant"][0]["individual"]["reference"]
        assert ref.startswith("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|")
        found = session.get(f"{srv.base_url}/{ref}", timeout=30).json()
        assert found["total"] == 1
        assert found["entry"][0]["resource"]["resourceType"] == "Practitioner"
        session.close()


# --- CRUD -------------------------------------------------------------------------------


def test_create_read_update_vread_delete(fhir: Client) -> None:
    response = fhir.post("Patient", patient("crud-1", id="client-chosen"))
    assert response.status_code == 201
    created = response.json()
    pid = created["id"]
    assert pid != "client-chosen"  # the server assigns ids on create
    v1 = created["meta"]["versionId"]
    assert response.headers["Location"] == f"{fhir.base}/Patient/{pid}/_history/{v1}"
    assert response.headers["ETag"] == f'W/"{v1}"'

    read = fhir.get(f"Patient/{pid}")
    assert read.status_code == 200
    assert read.json()["name"] == [{"family": "Test"}]

    updated = fhir.put(f"Patient/{pid}", {**read.json(), "name": [{"family": "Changed"}]})
    assert updated.status_code == 200
    v2 = updated.json()["meta"]["versionId"]
    assert v2 != v1
    assert fhir.get(f"Patient/{pid}/_history/{v1}").json()["name"] == [{"family": "Test"}]
    assert fhir.get(f"Patient/{pid}/_history/{v2}").json()["name"] == [{"family": "Changed"}]
    history = fhir.get(f"Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert len(history["entry"]) == 2

    assert fhir.delete(f"Patient/{pid}").status_code == 200
    assert fhir.get(f"Patient/{pid}").status_code == 404
    assert fhir.server.count("Patient") == 0


def test_update_as_create_keeps_client_id(fhir: Client) -> None:
    first = fhir.put("Patient/my-id-1", patient("uac", id="my-id-1"))
    assert first.status_code == 201
    assert first.json()["id"] == "my-id-1"
    assert first.headers["Location"].startswith(f"{fhir.base}/Patient/my-id-1/_history/")
    second = fhir.put("Patient/my-id-1", patient("uac", family="Again", id="my-id-1"))
    assert second.status_code == 200
    mismatch = fhir.put("Patient/my-id-1", patient("uac", id="other-id"))
    assert mismatch.status_code == 400
    assert fhir.server.count("Patient") == 1


def test_conditional_update_create_update_and_412(fhir: Client) -> None:
    url = f"Patient?identifier={SYS}|cond-1"
    first = fhir.put(url, patient("cond-1", family="First"))
    assert first.status_code == 201, first.text
    pid = first.json()["id"]
    second = fhir.put(url, patient("cond-1", family="Second"))
    assert second.status_code == 200, second.text
    assert second.json()["id"] == pid
    assert second.json()["name"] == [{"family": "Second"}]
    assert fhir.server.count("Patient") == 1

    fhir.create(patient("cond-1", family="Duplicate"))
    third = fhir.put(url, patient("cond-1", family="Third"))
    assert third.status_code == 412
    assert third.json()["resourceType"] == "OperationOutcome"
    assert "Multiple resources" in diagnostics(third.json())
    assert fhir.server.count("Patient") == 2


def test_conditional_create_if_none_exist(fhir: Client) -> None:
    headers = {"If-None-Exist": f"identifier={SYS}|ine-1"}
    first = fhir.post("Patient", patient("ine-1"), headers)
    assert first.status_code == 201
    second = fhir.post("Patient", patient("ine-1", family="Other"), headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["name"] == [{"family": "Test"}]
    assert fhir.server.count("Patient") == 1


def test_invalid_resources_are_rejected_with_validator_message(fhir: Client) -> None:
    obs = {"resourceType": "Observation", "subject": {"reference": "Patient/x"}}
    response = fhir.post("Observation", obs)
    assert response.status_code == 400
    outcome = response.json()
    text = diagnostics(outcome)
    assert "Missing required property (Observation.status)" in text
    assert "Missing required property (Observation.code)" in text
    assert outcome["issue"][0]["details"]["text"] == "Missing required property"

    bogus = fhir.post("Patient", patient("x", gender="bogus"))
    assert bogus.status_code == 400
    assert (
        'Value "bogus" is not in the required value set '
        "http://hl7.org/fhir/ValueSet/administrative-gender (Patient.gender)"
    ) in diagnostics(bogus.json())
    assert fhir.post("Patient", patient("x", gender="female")).status_code == 201
    fhir.server.reset()

    extra = fhir.put("Patient/p-extra", {**patient("x", id="p-extra"), "favouriteColour": "blue"})
    assert extra.status_code == 400
    assert 'Invalid additional property "favouriteColour"' in diagnostics(extra.json())

    bad_date = fhir.put(f"Patient?identifier={SYS}|x", patient("x", birthDate="1990-13-45"))
    assert bad_date.status_code == 400
    assert "Invalid date format" in diagnostics(bad_date.json())

    wrong_type = fhir.post(
        "Patient", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    )
    assert wrong_type.status_code == 400
    assert fhir.server.count("Patient") == 0
    assert fhir.server.count("Observation") == 0


def test_content_types_and_gzip(fhir: Client) -> None:
    plain_json = fhir.session.post(
        f"{fhir.base}/Patient",
        data=json.dumps(patient("ct-1")),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert plain_json.status_code == 201
    xml = fhir.session.post(
        f"{fhir.base}/Patient",
        data="<Patient/>",
        headers={"Content-Type": "application/fhir+xml"},
        timeout=30,
    )
    assert xml.status_code == 415
    big = fhir.get("metadata", headers={"Accept-Encoding": "gzip"})
    assert big.headers["Content-Encoding"] == "gzip"
    assert big.json()["fhirVersion"] == "4.0.1"
    small = fhir.get(f"Patient/{plain_json.json()['id']}", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200
    assert "Content-Encoding" not in small.headers
    identity = fhir.get("metadata", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers


# --- search -----------------------------------------------------------------------------


def test_paging_follows_opaque_next_links(fhir: Client) -> None:
    ids = {fhir.create(patient(f"page-{i}"))["id"] for i in range(23)}
    bundles = fhir.search_all("Patient", {"_count": 5})
    assert [len(b.get("entry", [])) for b in bundles] == [5, 5, 5, 5, 3]
    assert all(b["total"] == 23 for b in bundles)
    seen = [e["resource"]["id"] for b in bundles for e in b["entry"]]
    assert len(seen) == 23
    assert set(seen) == ids
    for bundle in bundles[:-1]:
        link = next_link(bundle)
        assert link is not None
        assert link.startswith(f"{fhir.base}/__page/")
        assert "_offset" not in link
        assert "_count" not in link
    assert bundles[0]["link"][0] == {"relation": "self", "url": f"{fhir.base}/Patient?_count=5"}
    assert bundles[1]["link"][0]["url"] == next_link(bundles[0])
    # default page size comes from --page-size (10 for this server)
    default = fhir.search_all("Patient")
    assert [len(b["entry"]) for b in default] == [10, 10, 3]
    # entries carry absolute fullUrls
    assert (
        bundles[0]["entry"][0]["fullUrl"]
        == f"{fhir.base}/Patient/{bundles[0]['entry'][0]['resource']['id']}"
    )
    # _count=0 only counts
    counted = fhir.get("Patient", params={"_count": 0}).json()
    assert counted["total"] == 23
    assert "entry" not in counted
    assert next_link(counted) is None
    # search parameters survive paging: only 2 of 23 match
    filtered = fhir.search_all(
        "Patient", {"identifier": f"{SYS}|page-3,{SYS}|page-17", "_count": 1}
    )
    assert [len(b["entry"]) for b in filtered] == [1, 1]


def test_search_with_post_and_unknown_parameter(fhir: Client) -> None:
    fhir.create(patient("post-search", family="Posted"))
    response = fhir.session.post(
        f"{fhir.base}/Patient/_search",
        data={"family": "Posted"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["total"] == 1
    unknown = fhir.get("Patient", params={"favourite-colour": "blue"})
    assert unknown.status_code == 400
    assert "Unknown search parameter" in diagnostics(unknown.json())
    assert fhir.get("NoSuchType").status_code == 404


def test_token_search_variants(fhir: Client) -> None:
    a = fhir.create(patient("Tok-1", gender="female"))["id"]
    b = fhir.create(patient("tok-2", gender="male"))["id"]
    c = fhir.create({"resourceType": "Patient", "identifier": [{"value": "tok-1"}]})["id"]

    def ids(**params: str) -> set[str]:
        bundles = fhir.search_all("Patient", params)
        return {e["resource"]["id"] for bundle in bundles for e in bundle.get("entry", [])}

    assert ids(identifier=f"{SYS}|tok-1") == {a}  # values match case-insensitively
    assert ids(identifier="tok-1") == {a, c}  # any system
    assert ids(identifier="|tok-1") == {c}  # no system
    assert ids(identifier=f"{SYS}|") == {a, b}  # system only
    assert ids(identifier=f"{SYS}|tok-2,{SYS}|nope") == {b}
    assert ids(gender="female") == {a}
    assert ids(**{"gender:not": "female"}) == {b, c}
    assert ids(_id=f"{a},{c}") == {a, c}


def test_last_updated_filter(fhir: Client) -> None:
    first = fhir.create(patient("lu-1"))
    t1 = first["meta"]["lastUpdated"]
    # Write the second resource until its timestamp is strictly later (millisecond clock).
    second = fhir.create(patient("lu-2"))
    for _ in range(1000):
        if second["meta"]["lastUpdated"] > t1:
            break
        second = fhir.put(f"Patient/{second['id']}", second).json()
    t2 = second["meta"]["lastUpdated"]
    assert t2 > t1

    def ids(op: str, value: str) -> set[str]:
        bundles = fhir.search_all("Patient", {"_lastUpdated": f"{op}{value}"})
        return {e["resource"]["id"] for b in bundles for e in b.get("entry", [])}

    a, b = first["id"], second["id"]
    assert ids("gt", t1) == {b}
    assert ids("ge", t1) == {a, b}
    assert ids("lt", t2) == {a}
    assert ids("le", t2) == {a, b}
    assert ids("le", t1) == {a}
    assert ids("gt", t2) == set()
    assert ids("ge", "2000-01-01") == {a, b}
    assert ids("lt", "2000-01-01") == set()
    bad = fhir.get("Patient", params={"_lastUpdated": "gtyesterday"})
    assert bad.status_code == 400


def test_include_and_revinclude(fhir: Client) -> None:
    org = fhir.create({"resourceType": "Organization", "name": "Org"})
    pat = fhir.create(
        patient("inc-1", managingOrganization={"reference": f"Organization/{org['id']}"})
    )
    encs = []
    for _ in range(2):
        encs.append(
            fhir.create(
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "AMB",
                    },
                    "subject": {"reference": f"Patient/{pat['id']}"},
                    "serviceProvider": {"reference": f"Organization/{org['id']}"},
                }
            )
        )
    obs = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "bp"},
            "subject": {"reference": f"Patient/{pat['id']}"},
            "encounter": {"reference": f"Encounter/{encs[0]['id']}"},
        }
    )
    e0, e1 = f"Encounter/{encs[0]['id']}", f"Encounter/{encs[1]['id']}"
    p, o = f"Patient/{pat['id']}", f"Organization/{org['id']}"

    inc = fhir.get(
        "Encounter", params={"_id": encs[0]["id"], "_include": "Encounter:subject"}
    ).json()
    assert match_ids(inc) == [e0]
    assert match_ids(inc, "include") == [p]
    assert inc["total"] == 1  # total counts matches only

    both = fhir.get(
        "Encounter", params={"_include": ["Encounter:subject", "Encounter:service-provider"]}
    ).json()
    assert sorted(match_ids(both)) == sorted([e0, e1])
    assert sorted(match_ids(both, "include")) == sorted([p, o])  # each included once

    rev = fhir.get("Patient", params={"_revinclude": "Encounter:subject"}).json()
    assert match_ids(rev) == [p]
    assert sorted(match_ids(rev, "include")) == sorted([e0, e1])

    rev_obs = fhir.get("Encounter", params={"_revinclude": "Observation:encounter"}).json()
    assert match_ids(rev_obs, "include") == [f"Observation/{obs['id']}"]

    iterate = fhir.get(
        "Encounter",
        params={
            "_id": encs[1]["id"],
            "_include": "Encounter:subject",
            "_include:iterate": "Patient:organization",
        },
    ).json()
    assert match_ids(iterate) == [e1]
    assert sorted(match_ids(iterate, "include")) == sorted([p, o])

    # the bare id form of a reference parameter matches typed references
    by_bare_id = fhir.get("Encounter", params={"subject": pat["id"]}).json()
    assert by_bare_id["total"] == 2
    bad = fhir.get("Encounter", params={"_include": "Encounter:status"})
    assert bad.status_code == 400


def test_sort(fhir: Client) -> None:
    for family in ("Carter", "Adams", "Baker"):
        fhir.create(patient(family.lower(), family=family))
    asc = fhir.get("Patient", params={"_sort": "family"}).json()
    assert [e["resource"]["name"][0]["family"] for e in asc["entry"]] == [
        "Adams",
        "Baker",
        "Carter",
    ]
    desc = fhir.get("Patient", params={"_sort": "-family"}).json()
    assert [e["resource"]["name"][0]["family"] for e in desc["entry"]] == [
        "Carter",
        "Baker",
        "Adams",
    ]


# --- batch / transaction ----------------------------------------------------------------


def test_transaction_with_puts_posts_and_references(fhir: Client) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5e0a3b4c-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Organization",
                    "name": "Tx Org",
                    "identifier": [{"system": SYS, "value": "tx-org"}],
                },
                "request": {"method": "PUT", "url": f"Organization?identifier={SYS}|tx-org"},
            },
            *[
                {
                    "resource": patient(
                        f"tx-{i}",
                        id=f"tx-pat-{i}",
                        managingOrganization={
                            "reference": "urn:uuid:5e0a3b4c-0000-4000-8000-000000000001"
                        },
                    ),
                    "request": {"method": "PUT", "url": f"Patient/tx-pat-{i}"},
                }
                for i in range(3)
            ],
            {
                "fullUrl": "urn:uuid:5e0a3b4c-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": "Patient/tx-pat-0"},
                    "serviceProvider": {
                        "reference": "urn:uuid:5e0a3b4c-0000-4000-8000-000000000001"
                    },
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
        ],
    }
    response = fhir.post("", bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created"] * 5
    locations = [e["response"]["location"] for e in result["entry"]]
    assert locations[1].startswith("Patient/tx-pat-0/_history/")
    org_id = locations[0].split("/")[1]
    enc_id = locations[4].split("/")[1]
    assert fhir.server.count("Patient") == 3
    patient_1 = fhir.get("Patient/tx-pat-1").json()
    assert patient_1["managingOrganization"] == {"reference": f"Organization/{org_id}"}
    encounter = fhir.get(f"Encounter/{enc_id}").json()
    assert encounter["serviceProvider"] == {"reference": f"Organization/{org_id}"}

    # the same PUTs again are updates; the conditional PUT finds the organization
    again = fhir.post("", {**bundle, "entry": bundle["entry"][:4]}).json()
    assert [e["response"]["status"] for e in again["entry"]] == ["200 OK"] * 4
    assert again["entry"][0]["response"]["location"].startswith(f"Organization/{org_id}/_history/")
    assert fhir.server.count("Organization") == 1


def test_transaction_is_all_or_nothing(fhir: Client) -> None:
    fhir.put("Patient/keep", patient("keep", id="keep"))
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": patient("keep", family="Overwritten", id="keep"),
                "request": {"method": "PUT", "url": "Patient/keep"},
            },
            {
                "resource": patient("new", id="new-one"),
                "request": {"method": "PUT", "url": "Patient/new-one"},
            },
            {
                "resource": {"resourceType": "Observation"},
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = fhir.post("", bundle)
    assert response.status_code == 400
    text = diagnostics(response.json())
    assert "Bundle.entry[2]" in text
    assert "Missing required property" in text
    assert fhir.server.count("Patient") == 1
    assert fhir.server.count("Observation") == 0
    kept = fhir.get("Patient/keep").json()
    assert kept["name"] == [{"family": "Test"}]
    assert len(fhir.get("Patient/keep/_history").json()["entry"]) == 1

    fhir.create(patient("dup"))
    fhir.create(patient("dup"))
    conditional = fhir.post(
        "",
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": patient("dup"),
                    "request": {"method": "PUT", "url": f"Patient?identifier={SYS}|dup"},
                },
            ],
        },
    )
    assert conditional.status_code == 412


def test_batch_entries_succeed_or_fail_independently(fhir: Client) -> None:
    pid = fhir.create(patient("b-1"))["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient("b-2"), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Observation"},
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
            {"request": {"method": "GET", "url": "Patient?identifier=" + SYS + "|b-1"}},
            {"request": {"method": "GET", "url": "Patient/missing"}},
        ],
    }
    response = fhir.post("", bundle)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == [
        "201 Created",
        "400 Bad Request",
        "200 OK",
        "200 OK",
        "404 Not Found",
    ]
    assert "Missing required property" in diagnostics(entries[1]["response"]["outcome"])
    assert entries[2]["resource"]["id"] == pid
    assert entries[3]["resource"]["type"] == "searchset"
    assert entries[3]["resource"]["total"] == 1
    assert fhir.server.count("Patient") == 2


# --- test controls ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [("429", 429, "throttled"), ("503", 503, "transient"), ("500", 500, "exception")],
)
def test_status_faults(fhir: Client, mode: str, status: int, code: str) -> None:
    fhir.server.inject(mode, 2, retry_after=3)
    for _ in range(2):
        response = fhir.get("Patient")
        assert response.status_code == status
        assert response.headers["Retry-After"] == "3"
        assert response.json()["issue"][0]["code"] == code
    assert fhir.get("Patient").status_code == 200
    stats = fhir.server.stats()
    assert stats["faultsServed"] == 2
    assert stats["byStatus"] == {str(status): 2, "200": 1}


def test_fault_with_http_date_and_path_filter(fhir: Client) -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    fhir.server.inject("503", 1, retryAfter=date, paths="/Observation")
    assert fhir.get("Patient").status_code == 200
    response = fhir.get("Observation", params={"_count": 1})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == date
    assert fhir.get("Observation").status_code == 200
    no_header = fhir.server.inject("429")
    assert no_header["pending"][0]["remaining"] == 1
    response = fhir.get("Patient")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_delay_fault_answers_normally(fhir: Client) -> None:
    fhir.server.inject("delay", 1, delay_ms=300)
    started = time.monotonic()
    response = fhir.get("Patient")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed >= 0.25  # lower bound only: the answer was held back
    assert fhir.server.stats()["faultsServed"] == 1


def test_drop_fault_closes_connection(fhir: Client) -> None:
    fhir.server.inject("drop", 1)
    with pytest.raises(requests.ConnectionError):
        fhir.post("Patient", patient("dropped"))
    assert fhir.server.count("Patient") == 0
    assert fhir.post("Patient", patient("kept")).status_code == 201
    stats = fhir.server.stats()
    assert stats["byStatus"] == {"dropped": 1, "201": 1}
    assert stats["requests"] == 2


def test_expired_links_answer_410(fhir: Client) -> None:
    for i in range(4):
        fhir.create(patient(f"exp-{i}"))
    first = fhir.get("Patient", params={"_count": 2}).json()
    link = next_link(first)
    assert link is not None
    assert fhir.get(link).status_code == 200  # links can be followed more than once
    assert fhir.server.expire_links() >= 1
    gone = fhir.get(link)
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    fresh = next_link(fhir.get("Patient", params={"_count": 2}).json())
    assert fresh is not None
    assert fresh != link
    assert fhir.get(fresh).status_code == 200
    assert fhir.get(f"{fhir.base}/__page/not-a-token").status_code == 410


def test_bearer_auth_on_and_off(fhir: Client) -> None:
    fhir.create(patient("auth", family="Auth"))
    fhir.server.set_auth_tokens(["secret-1", "secret-2"])
    try:
        missing = fhir.get("Patient")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert missing.json()["resourceType"] == "OperationOutcome"
        wrong = fhir.get("Patient", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert fhir.get("metadata").status_code == 200
        ok = fhir.get("Patient", headers={"Authorization": "Bearer secret-2"})
        assert ok.status_code == 200
        assert ok.json()["total"] == 1
        write = fhir.post(
            "Patient", patient("auth-2"), headers={"Authorization": "Bearer secret-1"}
        )
        assert write.status_code == 201
    finally:
        fhir.server.set_auth_tokens(None)
    assert fhir.get("Patient").status_code == 200


def test_stats_and_reset(fhir: Client) -> None:
    fhir.create(patient("s-1"))
    fhir.get("Patient/nope")
    stats = fhir.server.stats()
    assert stats == {"requests": 2, "faultsServed": 0, "byStatus": {"201": 1, "404": 1}}
    fhir.server.reset_stats()
    assert fhir.server.stats() == {"requests": 0, "faultsServed": 0, "byStatus": {}}
    fhir.server.inject("500", 5)
    fhir.server.set_auth_tokens(["t"])
    fhir.server.reset()
    assert fhir.server.count("Patient") == 0
    assert fhir.get("Patient").status_code == 200  # no fault, no auth after reset
