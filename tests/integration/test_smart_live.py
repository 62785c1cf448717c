"""SMART Backend Services against a token endpoint that really checks the client assertion.

The test runs its own token server (``http.server`` on 127.0.0.1): it verifies the
assertion's signature with the registered public key, its aud/iss/sub/exp and that each jti
is new, then issues random tokens and makes the FHIR test server accept only those. It also
serves ``<base>/.well-known/smart-configuration`` and forwards the rest of ``/fhir`` to the
FHIR test server, so discovery can be tested end to end.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_microsystems._errors import AuthError
from fhir_microsystems.client import FhirClient, SmartBackendServices
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration

CLIENT_ID = "fhir-microsystems-test"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class TokenServer:
    """A strict SMART token endpoint for one client, with a pass-through to the FHIR server."""

    def __init__(self, fhir: FhirTestServer, public_keys: dict[str, tuple[str, Any]]) -> None:
        self.fhir = fhir
        self.public_keys = public_keys  # kid -> (algorithm, public key)
        self.expires_in = 300
        self.register_tokens = True
        self.seen_jti: set[str] = set()
        self.issued: list[str] = []
        self.rejected: list[str] = []
        self.config_requests = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def fhir_base(self) -> str:
        """A FHIR base on this server: SMART discovery here, everything else forwarded."""
        return f"http://127.0.0.1:{self.port}/fhir"

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Check a token request; answer (status, JSON body)."""
        try:
            self._verify(form)
        except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
            self.rejected.append(type(exc).__name__)
            return 401, {"error": "invalid_client", "error_description": str(exc)}
        token = secrets.token_urlsafe(18)
        with self._lock:
            self.issued.append(token)
        if self.register_tokens:
            self.fhir.set_auth_tokens([token])  # the newest token only: older ones are rotated out
        answer = {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
        return 200, {**answer, "scope": form["scope"]}

    def _verify(self, form: dict[str, str]) -> None:
        if form.get("grant_type") != "client_credentials":
            raise ValueError("grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise ValueError("wrong client_assertion_type")
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        if header.get("typ") != "JWT":
            raise ValueError("header typ must be JWT")
        algorithm, public_key = self.public_keys[header["kid"]]
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=[algorithm],
            audience=self.token_url,
            issuer=CLIENT_ID,
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
        if claims["sub"] != CLIENT_ID:
            raise ValueError("sub must equal the client_id")
        if claims["exp"] > time.time() + 300 + 5:
            raise ValueError("assertion lives longer than five minutes")
        with self._lock:
            if claims["jti"] in self.seen_jti:
                raise ValueError("jti was used before")
            self.seen_jti.add(claims["jti"])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per answer (flushed by http.server after each request)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                if self.path == "/fhir/.well-known/smart-configuration":
                    owner.config_requests += 1
                    config = {
                        "token_endpoint": owner.token_url,
                        "grant_types_supported": ["client_credentials"],
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                    }
                    self._reply(200, orjson.dumps(config), {"Content-Type": "application/json"})
                else:
                    self._forward(b"")

            def do_PUT(self) -> None:
                self._forward(self._body())

            def do_POST(self) -> None:
                body = self._body()
                if self.path != "/token":
                    self._forward(body)
                    return
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                status, answer = owner.issue(form)
                self._reply(status, orjson.dumps(answer), {"Content-Type": "application/json"})

            def _forward(self, body: bytes) -> None:
                if not self.path.startswith("/fhir"):
                    self._reply(404, b"{}", {"Content-Type": "application/json"})
                    return
                names = ("Authorization", "Content-Type", "Accept", "Prefer")
                headers = {n: self.headers[n] for n in names if self.headers.get(n)}
                headers["Host"] = f"127.0.0.1:{owner.port}"  # next links point back here
                headers["Accept-Encoding"] = "identity"
                upstream = requests.request(
                    self.command,
                    f"http://127.0.0.1:{owner.fhir.port}{self.path}",
                    data=body or None,
                    headers=headers,
                    timeout=30,
                )
                keep = ("Content-Type", "Location", "Retry-After", "WWW-Authenticate")
                reply = {n: upstream.headers[n] for n in keep if n in upstream.headers}
                self._reply(upstream.status_code, upstream.content, reply)

        return Handler


def pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {
        "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec-1": ec.generate_private_key(ec.SECP384R1()),
    }


@pytest.fixture(scope="module")
def live() -> Iterator[FhirTestServer]:
    with FhirTestServer() as server:
        yield server


@pytest.fixture
def token_server(live: FhirTestServer, keys: dict[str, Key]) -> Iterator[TokenServer]:
    live.reset()
    public = {
        "rsa-1": ("RS384", keys["rsa-1"].public_key()),
        "ec-1": ("ES384", keys["ec-1"].public_key()),
    }
    with TokenServer(live, public) as server:
        live.set_auth_tokens(["nobody-has-this-token"])  # auth is on from the start
        yield server


def smart(
    keys: dict[str, Key], kid: str, token_url: str | None, **kwargs: Any
) -> SmartBackendServices:
    algorithm = "RS384" if kid.startswith("rsa") else "ES384"
    return SmartBackendServices(
        CLIENT_ID, pem(keys[kid]), algorithm=algorithm, kid=kid, token_url=token_url, **kwargs
    )


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_token_is_obtained_once_and_reused(
    kid: str,
    keys: dict[str, Key],
    token_server: TokenServer,
    live: FhirTestServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    auth = smart(keys, kid, token_server.token_url)
    with caplog.at_level(logging.DEBUG), FhirClient(live.base_url, auth=auth) as client:
        for i in range(3):
            client.put({"resourceType": "Patient", "id": f"p{i}"})
        assert sorted(r["id"] for r in client.search("Patient")) == ["p0", "p1", "p2"]
        assert client.read("Patient", "p1")["id"] == "p1"
    assert len(token_server.issued) == 1
    assert auth.token_requests == 1
    assert token_server.rejected == []
    assert client.stats.auth_refreshes == 0
    assert live.count("Patient") == 3
    assert token_server.issued[0] not in caplog.text
    assert token_server.issued[0] not in repr(auth)


def test_token_endpoint_found_by_discovery(keys: dict[str, Key], token_server: TokenServer) -> None:
    auth = smart(keys, "ec-1", None)
    with FhirClient(token_server.fhir_base, auth=auth) as client:
        for i in range(12):
            client.put({"resourceType": "Patient", "id": f"p{i:02d}"})
        ids = [r["id"] for r in client.search("Patient", count=5)]
    assert sorted(ids) == [f"p{i:02d}" for i in range(12)]
    assert auth.token_url == token_server.token_url
    assert token_server.config_requests == 1
    assert len(token_server.issued) == 1


def test_refresh_once_after_the_servers_tokens_rotate(
    keys: dict[str, Key], token_server: TokenServer, live: FhirTestServer
) -> None:
    auth = smart(keys, "rsa-1", token_server.token_url)
    with FhirClient(live.base_url, auth=auth) as client:
        client.put({"resourceType": "Patient", "id": "p"})
        live.set_auth_tokens(["rotated-elsewhere"])  # our cached token is no longer valid
        live.reset_stats()
        assert client.read("Patient", "p")["id"] == "p"
        assert client.stats.auth_refreshes == 1
    assert len(token_server.issued) == 2
    assert len(token_server.seen_jti) == 2  # a fresh assertion for the refresh
    assert live.stats()["byStatus"] == {"401": 1, "200": 1}


def test_second_401_after_refresh_is_auth_error(
    keys: dict[str, Key], token_server: TokenServer, live: FhirTestServer
) -> None:
    token_server.register_tokens = False  # the FHIR server never accepts the issued tokens
    auth = smart(keys, "ec-1", token_server.token_url)
    with FhirClient(live.base_url, auth=auth) as client, pytest.raises(AuthError) as info:
        client.read("Patient", "p")
    assert "401 after one credential refresh" in str(info.value)
    assert "Missing or invalid bearer token" in str(info.value)
    assert len(token_server.issued) == 2
    for token in token_server.issued:
        assert token not in str(info.value)


def test_assertion_signed_with_an_unregistered_key_is_refused(
    keys: dict[str, Key], token_server: TokenServer, live: FhirTestServer
) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth = SmartBackendServices(
        CLIENT_ID, pem(impostor), algorithm="RS384", kid="rsa-1", token_url=token_server.token_url
    )
    live.reset_stats()
    with FhirClient(live.base_url, auth=auth) as client, pytest.raises(AuthError) as info:
        client.read("Patient", "p")
    assert "invalid_client" in str(info.value)
    assert info.value.details["status"] == 401
    assert token_server.rejected == ["InvalidSignatureError"]
    assert token_server.issued == []
    assert live.stats()["requests"] == 0  # nothing reached the FHIR server


def test_expired_assertion_is_refused(keys: dict[str, Key], token_server: TokenServer) -> None:
    auth = smart(keys, "ec-1", token_server.token_url, clock=lambda: time.time() - 3600)
    with FhirClient(token_server.fhir_base, auth=auth) as client, pytest.raises(AuthError):
        client.read("Patient", "p")
    assert token_server.rejected == ["ExpiredSignatureError"]
