"""The HTTP exchange under FhirClient: pooling, timeouts, retries, one auth refresh on 401."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from fhir_microsystems import __version__
from fhir_microsystems._errors import (
    AuthError,
    ConfigurationError,
    FatalFhirError,
    FhirHttpError,
    RedirectRefusedError,
    TemporaryFhirError,
)

from ._auth import Auth, NoAuth
from ._origin import has_userinfo, may_receive_credential, origin, same_origin
from ._outcome import error_for_status, outcome_text, redact_url
from ._retry import RetryPolicy

log = logging.getLogger("fhir_microsystems.client")

FHIR_JSON = "application/fhir+json"
DEFAULT_USER_AGENT = f"fhir-microsystems/{__version__}"
_NETWORK_FAULTS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
#: Statuses that mean "not processed": safe to retry even for non-idempotent requests.
_UNPROCESSED = frozenset({429, 503})
#: Largest response body read (decoded); a larger one is a fatal error, never held whole.
DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 * 1024
_CHUNK = 1 << 16
#: Redirects followed for one read (same origin only).
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _RedactQueries(logging.Filter):
    """Strips query values from the request lines urllib3 logs at DEBUG (they may name
    patients)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(a) if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQueries())

#: ``on_retry(status, attempt, delay)``; status 0 for a network fault.
OnRetry = Callable[[int, int, float], None]


@dataclass
class ClientStats:
    """Counters of one client: HTTP requests sent, retries, response bytes, token refreshes."""

    requests: int = 0
    retries: int = 0
    bytes: int = 0
    auth_refreshes: int = 0


class HttpExchange:
    """Sends requests for :class:`FhirClient` (its base class); all HTTP happens here."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        user_agent: str = DEFAULT_USER_AGENT,
        session: requests.Session | None = None,
        pool_size: int = 10,
        on_retry: OnRetry | None = None,
        trust_env: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if has_userinfo(base_url):
            raise ConfigurationError(
                "a FHIR base URL must not carry user:password@ (it would be logged and stored); "
                "give credentials with FHIRMS_AUTH / FHIRMS_BEARER_TOKEN or, for the sink, "
                "FHIRMS_SINK_AUTH / FHIRMS_SINK_BEARER_TOKEN"
            )
        self.base_url = base_url.rstrip("/")
        self.max_response_bytes = max_response_bytes
        self.auth = auth or NoAuth()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.verify = verify
        self.on_retry = on_retry
        self.stats = ClientStats()
        self._headers = {
            "Accept": FHIR_JSON,
            "Accept-Encoding": "gzip",
            "User-Agent": user_agent,
        }
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # netrc credentials and proxy variables only when asked for (FHIRMS_TRUST_ENV)
            session.trust_env = trust_env
            adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        self._transport = _Transport(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, auth={self.auth!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections (a session passed in by the caller is left open)."""
        if self._owns_session:
            self._session.close()

    def _get_json(self, url: str, *, use_auth: bool = True) -> dict[str, Any]:
        return parse_json(self._send("GET", url, use_auth=use_auth), "GET", url)

    def _send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        use_auth: bool = True,
        idempotent: bool = True,
    ) -> requests.Response:
        """One request with retries on temporary faults and one auth refresh on 401.

        A request that is not ``idempotent`` is replayed only when it surely was not
        processed: the connection was never made, or the answer was 429 / 503. Redirects are
        followed only by GET and only on the same origin (RedirectRefusedError otherwise).
        """
        safe_url = redact_url(url)
        slept, attempt, refreshed, hops = 0.0, 0, False, 0
        while True:
            attempt += 1
            answer = self._attempt(
                method,
                url,
                safe_url=safe_url,
                body=body,
                form=form,
                headers=headers,
                use_auth=use_auth,
            )
            retry_after: str | None = None
            if isinstance(answer, requests.Response):
                status = answer.status_code
                if status in _REDIRECTS:
                    url = self._redirect_target(method, url, answer, hops)
                    safe_url, hops = redact_url(url), hops + 1
                    continue
                if status < 400:
                    return answer
                if status == 401 and use_auth:
                    if not refreshed and self.auth.invalidate():
                        refreshed = True
                        self.stats.auth_refreshes += 1
                        continue
                    raise _auth_error(answer, method, safe_url, refreshed)
                error = error_for_status(
                    status,
                    reason=answer.reason or "",
                    body=_body_or_none(answer),
                    url=safe_url,
                    method=method,
                )
                retryable = self.retry.statuses
                if status not in (retryable if idempotent else retryable & _UNPROCESSED):
                    raise error
                retry_after = answer.headers.get("Retry-After")
            else:
                status, error = 0, answer
                if not idempotent and not error.details.get("unsent"):
                    raise error
            slept += self._wait(attempt, slept, retry_after, status, error)

    def _redirect_target(
        self, method: str, url: str, response: requests.Response, hops: int
    ) -> str:
        """Where a redirect of ``method url`` leads, if the client may follow it."""
        location = response.headers.get("Location")
        target = urljoin(url, location) if location else ""
        where = f"{method} {redact_url(url)} was redirected (HTTP {response.status_code})"
        details: dict[str, Any] = {
            "status": response.status_code,
            "url": redact_url(url),
            "method": method,
            "from_origin": origin(url),
            "to_origin": origin(target) if target else "",
        }
        if not target:
            raise RedirectRefusedError(f"{where} without a Location", **details)
        if method not in ("GET", "HEAD"):
            raise RedirectRefusedError(
                f"{where} to {redact_url(target)}: a request with a body is never re-sent "
                "after a redirect; point the client at the final URL",
                **details,
            )
        if not same_origin(target, url):
            raise RedirectRefusedError(
                f"{where} from origin {origin(url)} to another origin {origin(target)}: "
                "refused (configure the other server's base URL if it is meant)",
                **details,
            )
        if hops >= MAX_REDIRECTS:
            raise RedirectRefusedError(f"{where}: more than {MAX_REDIRECTS} redirects", **details)
        return target

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        safe_url: str,
        body: bytes | None,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        use_auth: bool,
    ) -> requests.Response | TemporaryFhirError:
        """Send once: the response, or the TemporaryFhirError of a network fault.

        That error's ``details["unsent"]`` is True when the connection was never made.
        """
        request_headers = self._request_headers(url, headers, body is not None, use_auth)
        self.stats.requests += 1
        try:
            response = self._session.request(
                method,
                url,
                data=body if body is not None else form,
                headers=request_headers,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
            _read_capped(response, self.max_response_bytes, method, safe_url)
        except requests.exceptions.SSLError as exc:
            raise FatalFhirError(
                f"{method} {safe_url} failed: TLS error ({_fault_name(exc)})",
                url=safe_url,
                method=method,
            ) from None
        except _NETWORK_FAULTS as exc:
            fault = _fault_name(exc)
            return TemporaryFhirError(
                f"{method} {safe_url} failed",
                outcome=fault,
                url=safe_url,
                method=method,
                unsent=_not_sent(exc),
            )
        except requests.RequestException as exc:
            raise FatalFhirError(
                f"{method} {safe_url} failed: {_fault_name(exc)}", url=safe_url, method=method
            ) from None
        self.stats.bytes += len(response.content)
        log.debug("%s %s -> %s", method, safe_url, response.status_code)
        return response

    def _wait(
        self, attempt: int, slept: float, retry_after: str | None, status: int, error: FhirHttpError
    ) -> float:
        """Sleep before the next attempt, or raise when the retry budget is spent."""
        policy = self.retry
        delay = policy.delay(attempt, retry_after)
        if attempt >= policy.max_attempts or slept + delay > policy.max_total_sleep:
            raise TemporaryFhirError(
                f"{error.message} (gave up after {attempt} attempts)",
                status=status,
                outcome=error.outcome,
                url=error.url,
                method=error.method,
                attempts=attempt,
            )
        self.stats.retries += 1
        log.info(  # the caller's progress counts retries; the last failure is the error
            "retrying %s %s after %s (attempt %d, waiting %.2fs)",
            error.method,
            error.url,
            status or error.outcome,
            attempt,
            delay,
        )
        if self.on_retry is not None:
            self.on_retry(status, attempt, delay)
        policy.sleep(delay)
        return delay

    def _request_headers(
        self, url: str, extra: Mapping[str, str] | None, has_body: bool, use_auth: bool
    ) -> dict[str, str]:
        headers = dict(self._headers)
        if has_body:
            headers["Content-Type"] = FHIR_JSON
        headers.update(extra or {})
        if use_auth and may_receive_credential(url, self.base_url):
            value = self.auth.authorization(self._transport)
            if value:
                headers["Authorization"] = value
        return headers


class _Transport:
    """Unauthenticated exchanges offered to auth schemes (discovery, token requests)."""

    def __init__(self, client: HttpExchange) -> None:
        self._client = client

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def get_json(self, url: str) -> dict[str, Any]:
        return self._client._get_json(url, use_auth=False)

    def post_form(self, url: str, form: Mapping[str, str]) -> dict[str, Any]:
        response = self._client._send(
            "POST",
            url,
            form=form,
            headers={"Accept": "application/json"},
            use_auth=False,
            idempotent=False,
        )
        return parse_json(response, "POST", url)


def _read_capped(response: requests.Response, limit: int, method: str, url: str) -> None:
    """Read the (decoded) body into ``response.content``, at most ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK):  # read to the end: the connection is reused
        size += len(chunk)
        if size > limit:
            response.close()  # drop the connection rather than read the rest
            raise FatalFhirError(
                f"{method} {url} answered with more than {limit} bytes "
                "(FHIRMS_MAX_RESPONSE_BYTES): refused",
                status=response.status_code,
                url=url,
                method=method,
            )
        chunks.append(chunk)
    response._content = b"".join(chunks)


def parse_json(
    response: requests.Response, method: str, url: str, *, allow_empty: bool = False
) -> dict[str, Any]:
    if not response.content and allow_empty:
        return {}
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise FatalFhirError(
            "response is not a JSON object",
            status=response.status_code,
            url=redact_url(url),
            method=method,
        )
    return value


def _body_or_none(response: requests.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _auth_error(response: requests.Response, method: str, url: str, refreshed: bool) -> AuthError:
    text = outcome_text(_body_or_none(response)) or response.reason or ""
    after = " after one credential refresh" if refreshed else ""
    return AuthError(
        f"{method} {url} refused with HTTP 401{after}: {text}", status=401, url=url, method=method
    )


def _fault_name(exc: BaseException) -> str:
    """A network fault in words: "connection refused", "host not found", "timed out", or
    the exception's name (with its cause's)."""
    name = type(exc).__name__
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError) and inner.reason is not None:
        inner = inner.reason
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(inner, NewConnectionError):
        text = str(inner).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "resolution" in text or "nodename" in text:
            return "host not found"
    if isinstance(inner, BaseException):
        cause = inner.args[1] if len(inner.args) > 1 else inner
        if isinstance(cause, BaseException):
            return f"{name} ({type(cause).__name__})"
    return name


def _not_sent(exc: BaseException) -> bool:
    """True when the request surely never reached the server (connect phase failed)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    return isinstance(inner, MaxRetryError) and isinstance(inner.reason, NewConnectionError)


__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_USER_AGENT",
    "FHIR_JSON",
    "ClientStats",
    "HttpExchange",
    "OnRetry",
]
