"""One error hierarchy: temporary faults (retry later) vs fatal faults (stop, fix input/config).

Every exception pickles (it may cross a Celery broker): constructors take only keyword-safe
values and ``__reduce__`` rebuilds them from those.
"""

from __future__ import annotations

from typing import Any


class FhirMicrosystemsError(Exception):
    """Base of every error this project raises on purpose."""

    temporary: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.details))

    def __str__(self) -> str:
        return self.message


def _rebuild(
    cls: type[FhirMicrosystemsError], message: str, details: dict[str, Any]
) -> FhirMicrosystemsError:
    return cls(message, **details)


class TemporaryError(FhirMicrosystemsError):
    """A fault that may go away by itself: retry with backoff."""

    temporary = True


class FatalError(FhirMicrosystemsError):
    """A fault that will not go away by retrying: configuration, input or server refusal."""


class ConfigurationError(FatalError):
    """Settings are missing or contradictory."""


class InputError(FatalError):
    """Input (a file, a resource, an argument) cannot be used; names the resource and field."""


class FhirHttpError(FhirMicrosystemsError):
    """An HTTP exchange with a FHIR server failed.

    ``status`` is the HTTP status (0 for a connection fault), ``outcome`` the text of the
    server's OperationOutcome issues (diagnostics / details), ``url`` the request URL without
    query secrets.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        outcome: str = "",
        url: str = "",
        method: str = "",
        **details: Any,
    ) -> None:
        super().__init__(message, status=status, outcome=outcome, url=url, method=method, **details)
        self.status = status
        self.outcome = outcome
        self.url = url
        self.method = method

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.details))

    def __str__(self) -> str:
        text = self.message
        if self.outcome:
            text += f": {self.outcome}"
        return text


class TemporaryFhirError(FhirHttpError, TemporaryError):
    """Connection error, timeout, 408, 429, 500, 502, 503, 504 (retry budget exhausted or not)."""


class FatalFhirError(FhirHttpError, FatalError):
    """Any other 4xx / unexpected response: retrying will not help."""


class ResourceGoneError(FatalFhirError):
    """410 Gone (e.g. an expired paging link): the search must be restarted."""


class MultipleMatchesError(FatalFhirError):
    """412 Precondition Failed on a conditional write: several resources match the identifier."""


class ValidationRejectedError(FatalFhirError):
    """The server rejected a write as invalid (400/422 with an OperationOutcome)."""


class RedirectRefusedError(FatalFhirError):
    """A redirect the client will not follow: to another origin, or of a write (never re-sent).

    ``from_origin`` and ``to_origin`` name both ends.
    """


class CapabilityError(FatalError):
    """The server is not FHIR R4 or lacks an interaction/search a run needs."""


class AuthError(FatalError):
    """Authentication failed (token endpoint refused, 401 after one refresh)."""


__all__ = [
    "AuthError",
    "CapabilityError",
    "ConfigurationError",
    "FatalError",
    "FatalFhirError",
    "FhirHttpError",
    "FhirMicrosystemsError",
    "InputError",
    "MultipleMatchesError",
    "RedirectRefusedError",
    "ResourceGoneError",
    "TemporaryError",
    "TemporaryFhirError",
    "ValidationRejectedError",
]
