"""Auth: SMART Backend Services assertion, token caching, one refresh on 401, no leaks."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_microsystems._errors import AuthError, ConfigurationError
from fhir_microsystems.client import BearerToken, FhirClient, NoAuth, SmartBackendServices

BASE = "https://fhir.example.test/fhir"
TOKEN_URL = "https://auth.example.test/token"
PATIENT = {"resourceType": "Patient", "id": "p1"}
NOW = 1_700_000_000.0


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def token_answer(token: str, expires_in: int = 300) -> dict[str, object]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


def form_of(call_index: int) -> dict[str, str]:
    body = responses.calls[call_index].request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
@responses.activate
def test_assertion_is_signed_with_the_required_claims(
    algorithm: str, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    key = rsa_key if algorithm == "RS384" else ec_key
    responses.post(TOKEN_URL, json=token_answer("tok-1"))
    responses.get(f"{BASE}/Patient/p1", json=PATIENT)
    auth = SmartBackendServices(
        "my-client", pem(key), algorithm=algorithm, kid="key-7", token_url=TOKEN_URL
    )
    FhirClient(BASE, auth=auth).read("Patient", "p1")

    form = form_of(0)
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "system/*.read"
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assertion = form["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": algorithm, "kid": "key-7", "typ": "JWT"}
    claims = jwt.decode(
        assertion, key.public_key(), algorithms=[algorithm], audience=TOKEN_URL, issuer="my-client"
    )
    assert claims["sub"] == "my-client"
    assert 0 < claims["exp"] - claims["iat"] <= 300
    assert len(claims["jti"]) >= 16
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok-1"
    assert "Authorization" not in responses.calls[0].request.headers


def test_each_assertion_has_a_new_jti(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = SmartBackendServices("c", pem(rsa_key), kid="k", token_url=TOKEN_URL)
    first, second = (
        jwt.decode(auth.client_assertion(TOKEN_URL), options={"verify_signature": False})
        for _ in range(2)
    )
    assert first["jti"] != second["jti"]


@responses.activate
def test_token_endpoint_is_discovered(ec_key: ec.EllipticCurvePrivateKey) -> None:
    responses.get(f"{BASE}/.well-known/smart-configuration", json={"token_endpoint": TOKEN_URL})
    responses.post(TOKEN_URL, json=token_answer("tok-d"))
    responses.get(f"{BASE}/Patient/p1", json=PATIENT)
    auth = SmartBackendServices("c", pem(ec_key), algorithm="ES384", kid="k")
    client = FhirClient(BASE, auth=auth)
    client.read("Patient", "p1")
    client.read("Patient", "p1")
    assert auth.token_url == TOKEN_URL
    assert [c.request.method for c in responses.calls] == ["GET", "POST", "GET", "GET"]


@responses.activate
def test_token_is_cached_until_shortly_before_expiry(rsa_key: rsa.RSAPrivateKey) -> None:
    responses.post(TOKEN_URL, json=token_answer("tok-1", 300))
    responses.post(TOKEN_URL, json=token_answer("tok-2", 300))
    responses.get(f"{BASE}/Patient/p1", json=PATIENT)
    clock = Clock()
    auth = SmartBackendServices("c", pem(rsa_key), kid="k", token_url=TOKEN_URL, clock=clock)
    client = FhirClient(BASE, auth=auth)
    for _ in range(3):
        client.read("Patient", "p1")
    clock.now += 239  # still more than 60 s left
    client.read("Patient", "p1")
    assert auth.token_requests == 1
    clock.now += 1  # 60 s before expiry: refresh
    client.read("Patient", "p1")
    assert auth.token_requests == 2
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-2"


@responses.activate
def test_one_refresh_on_401_then_success(rsa_key: rsa.RSAPrivateKey) -> None:
    responses.post(TOKEN_URL, json=token_answer("old"))
    responses.post(TOKEN_URL, json=token_answer("new"))
    responses.get(f"{BASE}/Patient/p1", status=401)
    responses.get(f"{BASE}/Patient/p1", json=PATIENT)
    auth = SmartBackendServices("c", pem(rsa_key), kid="k", token_url=TOKEN_URL)
    client = FhirClient(BASE, auth=auth)
    assert client.read("Patient", "p1") == PATIENT
    fhir_calls = [c for c in responses.calls if c.request.method == "GET"]
    assert [c.request.headers["Authorization"] for c in fhir_calls] == ["Bearer old", "Bearer new"]
    assert client.stats.auth_refreshes == 1
    assert client.stats.retries == 0


@responses.activate
def test_second_401_raises_auth_error(rsa_key: rsa.RSAPrivateKey) -> None:
    responses.post(TOKEN_URL, json=token_answer("t"))
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "Unauthorized"}],
    }
    responses.get(f"{BASE}/Patient/p1", status=401, json=body)
    auth = SmartBackendServices("c", pem(rsa_key), kid="k", token_url=TOKEN_URL)
    with pytest.raises(AuthError, match="after one credential refresh: error: Unauthorized"):
        FhirClient(BASE, auth=auth).read("Patient", "p1")
    assert auth.token_requests == 2
    assert len([c for c in responses.calls if c.request.method == "GET"]) == 2


@responses.activate
def test_static_token_cannot_refresh() -> None:
    responses.get(f"{BASE}/Patient/p1", status=401)
    client = FhirClient(BASE, auth=BearerToken("s3cret-static"))
    with pytest.raises(AuthError) as info:
        client.read("Patient", "p1")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer s3cret-static"
    assert len(responses.calls) == 1
    assert "s3cret-static" not in str(info.value)


@responses.activate
def test_token_endpoint_refusal_is_auth_error(rsa_key: rsa.RSAPrivateKey) -> None:
    responses.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client", "error_description": "bad signature"},
    )
    auth = SmartBackendServices("c", pem(rsa_key), kid="k", token_url=TOKEN_URL)
    with pytest.raises(AuthError, match="invalid_client: bad signature") as info:
        FhirClient(BASE, auth=auth).read("Patient", "p1")
    assert info.value.details["status"] == 400
    assert form_of(0)["client_assertion"] not in str(info.value)


@responses.activate
def test_secrets_never_in_repr_errors_or_logs(
    rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    secret_token = "TOKEN-abcdef0123456789"
    responses.post(TOKEN_URL, json=token_answer(secret_token))
    responses.get(f"{BASE}/Patient/p1", status=401)
    key_pem = pem(rsa_key)
    auth = SmartBackendServices("c", key_pem, kid="k", token_url=TOKEN_URL)
    client = FhirClient(BASE, auth=auth)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as info:
        client.read("Patient", "p1")
    assertion = form_of(0)["client_assertion"]
    key_body = key_pem.decode().splitlines()[1]
    texts = [repr(auth), str(auth), repr(client), str(info.value), repr(info.value), caplog.text]
    texts += [repr(BearerToken(secret_token)), str(BearerToken(secret_token))]
    for text in texts:
        for secret in (secret_token, assertion, key_body):
            assert secret not in text
    assert "GET https://fhir.example.test/fhir/Patient/p1 -> 401" in caplog.text


def test_key_from_path_and_wrong_keys(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "client.pem"
    path.write_bytes(pem(ec_key))
    assert SmartBackendServices("c", path, algorithm="ES384", kid="k").algorithm == "ES384"
    assert SmartBackendServices("c", str(path), algorithm="ES384", kid="k").kid == "k"
    with pytest.raises(ConfigurationError, match="does not fit RS384"):
        SmartBackendServices("c", path, algorithm="RS384", kid="k")
    with pytest.raises(ConfigurationError, match="does not fit ES384"):
        SmartBackendServices(
            "c", pem(ec.generate_private_key(ec.SECP256R1())), algorithm="ES384", kid="k"
        )
    with pytest.raises(ConfigurationError, match="not an unencrypted PEM") as info:
        SmartBackendServices(
            "c", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", kid="k"
        )
    assert "AAAA" not in str(info.value)
    with pytest.raises(ConfigurationError, match=r"cannot read private key file 'missing\.pem'"):
        SmartBackendServices("c", tmp_path / "missing.pem", kid="k")
    with pytest.raises(ConfigurationError, match="algorithm"):
        SmartBackendServices("c", pem(rsa_key), algorithm="HS256", kid="k")


def test_no_auth_sends_nothing() -> None:
    assert NoAuth().authorization(None) is None  # type: ignore[arg-type]
    assert NoAuth().invalidate() is False
