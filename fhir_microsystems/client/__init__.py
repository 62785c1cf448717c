"""FHIR R4 REST client: the only module of the project that does HTTP."""

from ._auth import Auth, AuthTransport, BearerToken, NoAuth, SmartBackendServices
from ._capabilities import Capabilities
from ._client import BatchResult, EntryFailure, FhirClient, WriteResult
from ._http import ClientStats, OnRetry
from ._origin import has_userinfo, is_loopback, may_receive_credential, origin, same_origin
from ._outcome import outcome_text, redact_url
from ._retry import RetryPolicy, parse_retry_after
from ._search import DateRanges, Params, SearchPage, fhir_instant, search_params

__all__ = [
    "Auth",
    "AuthTransport",
    "BatchResult",
    "BearerToken",
    "Capabilities",
    "ClientStats",
    "DateRanges",
    "EntryFailure",
    "FhirClient",
    "NoAuth",
    "OnRetry",
    "Params",
    "RetryPolicy",
    "SearchPage",
    "SmartBackendServices",
    "WriteResult",
    "fhir_instant",
    "has_userinfo",
    "is_loopback",
    "may_receive_credential",
    "origin",
    "outcome_text",
    "parse_retry_after",
    "redact_url",
    "same_origin",
    "search_params",
]
