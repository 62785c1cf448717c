"""Credentials go to one origin; redirects never cross origins; writes are never re-sent.

Every test talks to real local HTTP servers: the Node FHIR test server, and recording
servers (each on its own port, so its own origin) that show what reached them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_microsystems._errors import (
    ConfigurationError,
    FatalFhirError,
    RedirectRefusedError,
)
from fhir_microsystems._settings import Settings
from fhir_microsystems.client import (
    BearerToken,
    FhirClient,
    NoAuth,
    SmartBackendServices,
    may_receive_credential,
)
from fhir_microsystems.client._auth import MAX_TOKEN_LIFETIME
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth.generator import generate
from tests.support.fhir_server import FhirTestServer
from tests.support.recording_server import RecordingServer, bundle

pytestmark = pytest.mark.integration

PATIENT = {"resourceType": "Patient", "id": "p1"}


@pytest.fixture
def server_a() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def server_b() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=5, patients=60, months=2)
    return out


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[FhirTestServer]:
    with FhirTestServer() as server:
        yield server


def test_the_source_token_never_reaches_the_sink(
    hospital: Path, tmp_path: Path, fhir_server: FhirTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source and sink have separate settings; the sink accepts only its own token."""
    fhir_server.reset()
    fhir_server.set_auth_tokens(["sink-token"])
    monkeypatch.setenv("FHIRMS_AUTH", "bearer")
    monkeypatch.setenv("FHIRMS_BEARER_TOKEN", "source-token")
    monkeypatch.setenv("FHIRMS_SINK_AUTH", "bearer")
    monkeypatch.setenv("FHIRMS_SINK_BEARER_TOKEN", "sink-token")
    spec = RunSpec(source=str(hospital), out_dir=str(tmp_path), sink_url=fhir_server.base_url)
    run_in_process(spec, settings=Settings())
    assert fhir_server.count("CareTeam") > 0
    fhir_server.set_auth_tokens(None)


def test_without_sink_settings_the_sink_gets_no_credential(
    hospital: Path, tmp_path: Path, server_a: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_a.answer("GET", "/fhir/", 200, bundle([]))
    server_a.answer(
        "POST", "/fhir", 200, {"resourceType": "Bundle", "type": "transaction-response"}
    )
    monkeypatch.setenv("FHIRMS_AUTH", "bearer")
    monkeypatch.setenv("FHIRMS_BEARER_TOKEN", "source-token")
    spec = RunSpec(source=str(hospital), out_dir=str(tmp_path), sink_url=server_a.origin + "/fhir")
    run_in_process(spec, settings=Settings())
    assert any(r.method == "POST" for r in server_a.requests)
    assert server_a.authorizations() == []


def test_a_next_link_outside_the_base_path_is_refused(server_a: RecordingServer) -> None:
    """Same host, other path (``/admin``): not followed, the token stays home."""
    server_a.answer("GET", "/fhir/Patient", 200, bundle([PATIENT], server_a.origin + "/admin/x"))
    server_a.answer("GET", "/admin", 200, bundle([]))
    with (
        FhirClient(server_a.origin + "/fhir", auth=BearerToken("secret")) as client,
        pytest.raises(FatalFhirError, match="outside the base URL"),
    ):
        list(client.search("Patient"))
    assert [r.path for r in server_a.requests] == ["/fhir/Patient"]


def test_a_search_redirected_to_another_origin_is_refused(
    server_a: RecordingServer, server_b: RecordingServer
) -> None:
    server_a.redirect("GET", "/fhir/Patient", server_b.origin + "/fhir/Patient")
    server_b.answer("GET", "/fhir/Patient", 200, bundle([{"resourceType": "Patient", "id": "x"}]))
    with (
        FhirClient(server_a.origin + "/fhir", auth=BearerToken("secret")) as client,
        pytest.raises(RedirectRefusedError) as caught,
    ):
        list(client.search("Patient"))
    message = str(caught.value)
    assert server_a.origin in message and server_b.origin in message
    assert not caught.value.temporary
    assert server_b.requests == []


def test_a_write_answered_with_a_redirect_is_never_re_sent(
    server_a: RecordingServer, server_b: RecordingServer
) -> None:
    server_a.redirect("POST", "/fhir", server_b.origin + "/fhir", status=307)
    server_b.answer(
        "POST", "/fhir", 200, {"resourceType": "Bundle", "type": "transaction-response"}
    )
    group = {"resourceType": "Group", "id": "g", "type": "person", "actual": True}
    entry = {"resource": group, "request": {"method": "PUT", "url": "Group/g"}}
    with (
        FhirClient(server_a.origin + "/fhir", auth=BearerToken("secret")) as client,
        pytest.raises(RedirectRefusedError, match="never re-sent"),
    ):
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [entry]})
    assert server_b.requests == []


def test_a_read_redirected_on_the_same_origin_is_followed(server_a: RecordingServer) -> None:
    server_a.redirect("GET", "/fhir/Patient/old", "/fhir/Patient/p1", status=301)
    server_a.answer("GET", "/fhir/Patient/p1", 200, PATIENT)
    with FhirClient(server_a.origin + "/fhir", auth=BearerToken("secret")) as client:
        assert client.read("Patient", "old") == PATIENT
    assert server_a.authorizations() == ["Bearer secret", "Bearer secret"]


def test_netrc_credentials_are_not_used_unless_enabled(
    server_a: RecordingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    server_a.answer("GET", "/fhir/Patient/p1", 200, PATIENT)
    with FhirClient(server_a.origin + "/fhir", auth=NoAuth()) as client:
        client.read("Patient", "p1")
    assert server_a.authorizations() == []
    with FhirClient(server_a.origin + "/fhir", auth=NoAuth(), trust_env=True) as client:
        client.read("Patient", "p1")
    assert len(server_a.authorizations()) == 1


def test_the_credential_rule() -> None:
    base = "https://ehr.example/fhir"
    assert may_receive_credential("https://ehr.example/fhir/Patient?x=1", base)
    assert may_receive_credential("https://ehr.example:443/fhir", base)
    assert not may_receive_credential("https://ehr.example/admin", base)
    assert not may_receive_credential("https://ehr.example/fhirx/Patient", base)
    assert not may_receive_credential("https://ehr.example/fhir/../admin", base)
    assert not may_receive_credential("http://ehr.example/fhir/Patient", base)
    assert not may_receive_credential("https://ehr.example:8443/fhir/Patient", base)
    assert not may_receive_credential("https://files.example/fhir/x.ndjson", base)


# -- SMART ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _token_requests(server: RecordingServer) -> int:
    return sum(1 for r in server.requests if r.path == "/token")


@pytest.mark.parametrize("expires_in", [None, -5, "NaN", 0, 10**12, "1e400"])
def test_odd_expires_in_gets_a_safe_lifetime(
    server_a: RecordingServer, key_pem: bytes, expires_in: Any
) -> None:
    answer: dict[str, Any] = {"access_token": "t", "token_type": "bearer"}
    if expires_in is not None:
        answer["expires_in"] = expires_in
    server_a.answer("POST", "/token", 200, answer)
    server_a.answer("GET", "/fhir/Patient/p1", 200, PATIENT)
    clock = Clock()
    auth = SmartBackendServices(
        "client", key_pem, kid="k", token_url=server_a.origin + "/token", clock=clock
    )
    with FhirClient(server_a.origin + "/fhir", auth=auth) as client:
        for _ in range(3):
            client.read("Patient", "p1")
        assert _token_requests(server_a) == 1  # not a token per call
        clock.now += MAX_TOKEN_LIFETIME + 1
        client.read("Patient", "p1")
        assert _token_requests(server_a) == 2  # not "never refresh"


def test_a_discovered_plain_http_token_endpoint_is_refused(
    server_a: RecordingServer, key_pem: bytes
) -> None:
    server_a.answer(
        "GET",
        "/fhir/.well-known/smart-configuration",
        200,
        {"token_endpoint": "http://auth.example/token"},
    )
    auth = SmartBackendServices("client", key_pem, kid="k")
    with (
        FhirClient(server_a.origin + "/fhir", auth=auth) as client,
        pytest.raises(ConfigurationError, match="must be https"),
    ):
        client.read("Patient", "p1")
    assert [r.path for r in server_a.requests] == ["/fhir/.well-known/smart-configuration"]


def test_a_configured_plain_http_token_endpoint_is_refused(key_pem: bytes) -> None:
    with pytest.raises(ConfigurationError, match="must be https"):
        SmartBackendServices("client", key_pem, kid="k", token_url="http://auth.example/token")
