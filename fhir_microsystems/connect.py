"""Build clients and sources from settings: the one place configuration meets I/O objects."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems._settings import Settings
from fhir_microsystems.client import (
    Auth,
    BearerToken,
    FhirClient,
    NoAuth,
    RetryPolicy,
    SmartBackendServices,
)
from fhir_microsystems.sources import FhirServerSource, NdjsonSource, Source


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


#: Whose credentials a client carries: the source's (FHIRMS_AUTH...) or the sink's
#: (FHIRMS_SINK_AUTH...). Each set goes only to its own server.
Role = Literal["source", "sink"]


def make_auth(settings: Settings, role: Role = "source") -> Auth:
    """The authentication the settings ask for ``role`` (secrets stay inside the auth object)."""
    s = settings
    if role == "sink":
        mode, token, prefix = s.sink_auth, s.sink_bearer_token, "FHIRMS_SINK_"
        client_id, key_file, kid = (
            s.sink_smart_client_id,
            s.sink_smart_private_key_file,
            s.sink_smart_kid,
        )
        algorithm, scope, token_url = (
            s.sink_smart_algorithm,
            s.sink_smart_scope,
            s.sink_smart_token_url,
        )
    else:
        mode, token, prefix = s.auth, s.bearer_token, "FHIRMS_"
        client_id, key_file, kid = s.smart_client_id, s.smart_private_key_file, s.smart_kid
        algorithm, scope, token_url = s.smart_algorithm, s.smart_scope, s.smart_token_url
    if mode == "none":
        return NoAuth()
    if mode == "bearer":
        if token is None:
            raise ConfigurationError(f"{prefix}AUTH=bearer needs {prefix}BEARER_TOKEN")
        return BearerToken(token.get_secret_value())
    if not client_id or key_file is None:
        raise ConfigurationError(
            f"{prefix}AUTH=smart needs {prefix}SMART_CLIENT_ID and {prefix}SMART_PRIVATE_KEY_FILE"
        )
    return SmartBackendServices(
        client_id,
        key_file,
        kid=kid or client_id,
        algorithm=algorithm,
        scope=scope,
        token_url=token_url or None,
    )


def make_client(
    base_url: str, settings: Settings | None = None, *, role: Role = "source"
) -> FhirClient:
    """A FHIR client for ``base_url`` with ``role``'s auth and the settings' TLS, timeouts and
    retries."""
    settings = settings or Settings()
    verify: bool | str = settings.verify_tls
    if settings.verify_tls and settings.ca_bundle is not None:
        verify = str(settings.ca_bundle)
    return FhirClient(
        base_url,
        auth=make_auth(settings, role),
        timeout=(settings.connect_timeout, settings.read_timeout),
        retry=RetryPolicy(
            max_attempts=settings.max_retries,
            max_total_sleep=settings.retry_budget_seconds,
        ),
        verify=verify,
        trust_env=settings.trust_env,
        max_response_bytes=settings.max_response_bytes,
    )


def open_source(
    location: str,
    settings: Settings | None = None,
    *,
    since: datetime | None = None,
    window: tuple[datetime | None, datetime | None] | None = None,
) -> Source:
    """An NDJSON directory or a FHIR server, by the form of ``location``."""
    settings = settings or Settings()
    source: FhirServerSource | NdjsonSource
    if is_url(location):
        source = FhirServerSource(
            make_client(location, settings),
            page_size=settings.page_size,
            since=since,
            window=window,
        )
    else:
        path = Path(location)
        if not path.is_dir():
            raise ConfigurationError(
                f"source {location!r} is neither a directory nor an http(s) URL"
            )
        source = NdjsonSource(path, max_line_bytes=settings.max_ndjson_line_bytes)
    source.base_urls = (*source.base_urls, *settings.base_aliases)
    return source
