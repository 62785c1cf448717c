"""Turn error responses into readable text and into the project's error classes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from fhir_microsystems._errors import (
    FatalFhirError,
    FhirHttpError,
    MultipleMatchesError,
    ResourceGoneError,
    TemporaryFhirError,
    ValidationRejectedError,
)

#: Longest OperationOutcome text carried by an error.
MAX_OUTCOME_CHARS = 1000

#: Statuses that are worth retrying (the server or the network may recover).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def outcome_text(body: Any, *, limit: int = MAX_OUTCOME_CHARS) -> str:
    """Text of an OperationOutcome (or an OAuth error) body; ``""`` when there is none.

    Each issue becomes ``severity: diagnostics; details [@ expression]``; issues are joined
    with `` | `` and the whole is cut to ``limit`` characters.
    """
    if not isinstance(body, dict):
        return ""
    if body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue")
        parts = (
            [_issue_text(i) for i in issues if isinstance(i, dict)]
            if isinstance(issues, list)
            else []
        )
        return _truncate(" | ".join(p for p in parts if p), limit)
    error = body.get("error")
    if isinstance(error, str):
        description = body.get("error_description")
        text = f"{error}: {description}" if isinstance(description, str) else error
        return _truncate(text, limit)
    return ""


def _issue_text(issue: dict[str, Any]) -> str:
    texts: list[str] = []

    def add(value: Any) -> None:  # keep the longest of texts that contain one another
        text = value.strip() if isinstance(value, str) else ""
        if not text or any(text in t for t in texts):
            return
        texts[:] = [t for t in texts if t not in text] + [text]

    add(issue.get("diagnostics"))
    details = issue.get("details")
    if isinstance(details, dict):
        add(details.get("text"))
        for coding in details.get("coding") or ():
            if isinstance(coding, dict):
                add(coding.get("display"))
    if not texts:
        add(issue.get("code"))
    text = "; ".join(texts)
    expression = issue.get("expression") or issue.get("location")
    if isinstance(expression, list):
        where = [str(e) for e in expression[:3] if str(e) not in text]
        text += " @ " + ", ".join(where) if where else ""
    severity = issue.get("severity")
    return f"{severity}: {text}" if isinstance(severity, str) and text else text


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def redact_url(url: str) -> str:
    """``url`` with query values and user-info removed (query names kept): safe to log and to
    put into errors."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    names = dict.fromkeys(name for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    query = "&".join(f"{name}=*" for name in names) or "*"
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def error_for_status(
    status: int, *, reason: str, body: Any, url: str, method: str
) -> FhirHttpError:
    """The error class and message for a failed HTTP exchange (``url`` must be redacted)."""
    outcome = outcome_text(body) or reason
    message = f"{method} {url} failed with HTTP {status}"
    cls: type[FhirHttpError]
    if status in RETRYABLE_STATUSES:
        cls = TemporaryFhirError
    elif status in (400, 422):
        cls = ValidationRejectedError
    elif status == 410:
        cls = ResourceGoneError
        message += " (gone: restart the search or re-read)"
    elif status == 412:
        cls = MultipleMatchesError
        message += " (several resources match the condition)"
    else:
        cls = FatalFhirError
    return cls(message, status=status, outcome=outcome, url=url, method=method)


__all__ = ["RETRYABLE_STATUSES", "error_for_status", "outcome_text", "redact_url"]
