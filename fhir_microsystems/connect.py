"""Build clients and sources from settings: the one place configuration meets I/O objects."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

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


def make_auth(settings: Settings) -> Auth:
    """The authentication the settings ask for (secrets stay inside the auth object)."""
    if settings.auth == "none":
        return NoAuth()
    if settings.auth == "bearer":
        if settings.bearer_token is None:
            raise ConfigurationError("FHIRMS_AUTH=bearer needs FHIRMS_BEARER_TOKEN")
        return BearerToken(settings.bearer_token.get_secret_value())
    if not settings.smart_client_id or settings.smart_private_key_file is None:
        raise ConfigurationError(
            "FHIRMS_AUTH=smart needs FHIRMS_SMART_CLIENT_ID and FHIRMS_SMART_PRIVATE_KEY_FILE"
        )
    return SmartBackendServices(
        settings.smart_client_id,
        settings.smart_private_key_file,
        kid=settings.smart_kid or settings.smart_client_id,
        algorithm=settings.smart_algorithm,
        scope=settings.smart_scope,
        token_url=settings.smart_token_url or None,
    )


def make_client(base_url: str, settings: Settings | None = None) -> FhirClient:
    """A FHIR client for ``base_url`` with the settings' auth, TLS, timeouts and retries."""
    settings = settings or Settings()
    verify: bool | str = settings.verify_tls
    if settings.verify_tls and settings.ca_bundle is not None:
        verify = str(settings.ca_bundle)
    return FhirClient(
        base_url,
        auth=make_auth(settings),
        timeout=(settings.connect_timeout, settings.read_timeout),
        retry=RetryPolicy(
            max_attempts=settings.max_retries,
            max_total_sleep=settings.retry_budget_seconds,
        ),
        verify=verify,
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
        source = NdjsonSource(path)
    source.base_urls = (*source.base_urls, *settings.base_aliases)
    return source
