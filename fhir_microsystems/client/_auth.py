"""Authentication for the FHIR client: none, a static bearer token, SMART Backend Services.

Secrets (tokens, private keys, client assertions) never appear in reprs, logs or errors.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_microsystems._errors import AuthError, ConfigurationError, FatalFhirError

from ._origin import is_loopback
from ._outcome import redact_url

#: Lifetime of a client assertion; SMART requires at most five minutes.
ASSERTION_LIFETIME = 300
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
#: Token lifetime assumed when ``expires_in`` is missing, not a number, zero or negative.
DEFAULT_TOKEN_LIFETIME = 300.0
#: Longest token lifetime believed (a larger ``expires_in`` is cut to this).
MAX_TOKEN_LIFETIME = 3600.0


def token_lifetime(expires_in: Any) -> float:
    """Seconds a token is used: ``expires_in`` if it is a sane number, else a safe default.

    Missing, non-numeric, NaN, zero or negative values give :data:`DEFAULT_TOKEN_LIFETIME`
    (not "refresh on every call"); infinite or huge ones :data:`MAX_TOKEN_LIFETIME` (not
    "never refresh").
    """
    if isinstance(expires_in, bool):
        return DEFAULT_TOKEN_LIFETIME
    try:
        value = float(expires_in)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_TOKEN_LIFETIME
    if math.isnan(value) or value <= 0:
        return DEFAULT_TOKEN_LIFETIME
    return min(value, MAX_TOKEN_LIFETIME)


def check_token_url(url: str) -> str:
    """``url`` if it may receive a client assertion: https, or http on a loopback host."""
    if url.startswith("https://") or (url.startswith("http://") and is_loopback(url)):
        return url
    raise ConfigurationError(
        f"SMART token endpoint {redact_url(url)!r} must be https (http only on loopback)"
    )


class AuthTransport(Protocol):
    """Unauthenticated JSON exchanges the client offers to an auth scheme."""

    @property
    def base_url(self) -> str: ...

    def get_json(self, url: str) -> dict[str, Any]: ...

    def post_form(self, url: str, form: Mapping[str, str]) -> dict[str, Any]: ...


class Auth:
    """Base of the auth schemes: supplies an ``Authorization`` header value."""

    def authorization(self, transport: AuthTransport) -> str | None:
        """The header value for the next request, or None for no header."""
        return None

    def invalidate(self) -> bool:
        """Forget cached credentials after a 401; True if new ones can be obtained."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class NoAuth(Auth):
    """No ``Authorization`` header."""


class BearerToken(Auth):
    """A fixed bearer token (cannot be refreshed)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigurationError("BearerToken needs a non-empty token")
        self._token = token

    def authorization(self, transport: AuthTransport) -> str | None:
        return f"Bearer {self._token}"

    def __repr__(self) -> str:
        return "BearerToken(token=<redacted>)"


class SmartBackendServices(Auth):
    """SMART Backend Services: client_credentials grant with a private_key_jwt assertion.

    The token endpoint is read from ``<base>/.well-known/smart-configuration`` unless
    ``token_url`` is given. The access token is reused until ``refresh_margin`` seconds
    before it expires (or halfway through a very short lifetime).
    """

    def __init__(
        self,
        client_id: str,
        private_key_pem: str | bytes | os.PathLike[str],
        *,
        kid: str,
        algorithm: str = "RS384",
        scope: str = "system/*.read",
        token_url: str | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ConfigurationError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
        if not client_id or not kid:
            raise ConfigurationError("SmartBackendServices needs a client_id and a kid")
        self.client_id = client_id
        self.kid = kid
        self.algorithm = algorithm
        self.scope = scope
        self.token_url = check_token_url(token_url) if token_url else None
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._key = _load_private_key(private_key_pem, algorithm)
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = threading.Lock()
        self.token_requests = 0

    def __repr__(self) -> str:
        return (
            f"SmartBackendServices(client_id={self.client_id!r}, kid={self.kid!r}, "
            f"algorithm={self.algorithm!r}, scope={self.scope!r})"
        )

    def authorization(self, transport: AuthTransport) -> str | None:
        with self._lock:
            if self._token is None or self._clock() >= self._valid_until:
                self._fetch_token(transport)
            return f"Bearer {self._token}"

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True

    def client_assertion(self, token_url: str) -> str:
        """A freshly signed assertion for ``token_url`` (iss=sub=client_id, unique jti)."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self.kid, "typ": "JWT"}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def _discover(self, transport: AuthTransport) -> str:
        if self.token_url is None:
            config = transport.get_json(transport.base_url + "/.well-known/smart-configuration")
            endpoint = config.get("token_endpoint")
            if not isinstance(endpoint, str) or not endpoint:
                raise AuthError("smart-configuration names no token_endpoint")
            self.token_url = check_token_url(endpoint)
        return self.token_url

    def _fetch_token(self, transport: AuthTransport) -> None:
        token_url = self._discover(transport)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(token_url),
        }
        started = self._clock()
        self.token_requests += 1
        try:
            answer = transport.post_form(token_url, form)
        except FatalFhirError as exc:
            raise AuthError(
                f"token endpoint refused the request (HTTP {exc.status}): {exc.outcome}",
                status=exc.status,
                url=redact_url(token_url),
            ) from None
        token = answer.get("access_token")
        token_type = str(answer.get("token_type", "bearer"))
        if not isinstance(token, str) or not token or token_type.lower() != "bearer":
            raise AuthError("token endpoint answered without a bearer access_token")
        lifetime = token_lifetime(answer.get("expires_in"))
        self._token = token
        self._valid_until = started + max(lifetime - self.refresh_margin, lifetime / 2)


def _load_private_key(
    source: str | bytes | os.PathLike[str], algorithm: str
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str) and "-----BEGIN" in source:
        data = source.encode()
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read private key file {path.name!r}: {exc.strerror}"
            ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigurationError("private key is not an unencrypted PEM private key") from None
    if algorithm == "RS384" and isinstance(key, rsa.RSAPrivateKey):
        return key
    if (
        algorithm == "ES384"
        and isinstance(key, ec.EllipticCurvePrivateKey)
        and isinstance(key.curve, ec.SECP384R1)
    ):
        return key
    raise ConfigurationError(f"private key does not fit {algorithm} (RSA or EC P-384 expected)")


__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_TOKEN_LIFETIME",
    "Auth",
    "AuthTransport",
    "BearerToken",
    "NoAuth",
    "SmartBackendServices",
    "check_token_url",
    "token_lifetime",
]
