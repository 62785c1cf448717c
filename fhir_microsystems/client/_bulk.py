"""FHIR Bulk Data ``$export``: kick-off, status polling, cancel, and streamed file downloads.

The HTTP of a bulk export, over a :class:`FhirClient`'s session and auth. Kick-off sends
``Prefer: respond-async``; polling honours ``Retry-After`` (seconds or HTTP-date) on 202 and
429 and backs off with full jitter when it is absent, up to :attr:`BulkPolicy.max_wait`;
files are streamed to disk (gzip accepted), resumed with ``Range`` after a broken connection,
and the access token goes with a file request only when the manifest says
``requiresAccessToken`` and the file is on the server's origin or an allowed one.
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urljoin

import orjson
import requests

from fhir_microsystems._errors import (
    ConfigurationError,
    FatalFhirError,
    FhirHttpError,
    ResourceGoneError,
    TemporaryFhirError,
)

from ._client import FhirClient
from ._outcome import error_for_status, outcome_text, redact_url
from ._retry import parse_retry_after
from ._search import fhir_instant, same_origin

log = logging.getLogger("fhir_microsystems.client.bulk")

Level = Literal["system", "patient", "group"]
NDJSON_TYPES = ("application/fhir+ndjson", "application/ndjson", "ndjson")
_CHUNK = 1 << 14
#: Most bytes of a status answer (the manifest) and most files one manifest may list.
MAX_MANIFEST_BYTES = 64 * 1024**2
MAX_MANIFEST_FILES = 100_000
_NETWORK_FAULTS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class ExportExpiredError(ResourceGoneError):
    """A file link answered 410/404, or the status URL is gone: start a new export."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the level (``group`` needs ``group_id``), ``_type``, ``_since`` and
    ``_typeFilter`` queries (``Type?param=value``)."""

    level: Level = "system"
    group_id: str | None = None
    types: tuple[str, ...] = ()
    since: datetime | None = None
    type_filters: tuple[str, ...] = ()

    def url(self, base_url: str) -> str:
        if self.level == "group":
            if not self.group_id:
                raise ConfigurationError("a Group-level export needs a group id")
            path = f"/Group/{self.group_id}/$export"
        else:
            path = "/Patient/$export" if self.level == "patient" else "/$export"
        pairs = [("_outputFormat", NDJSON_TYPES[0])]
        if self.types:
            pairs.append(("_type", ",".join(self.types)))
        if self.since is not None:
            pairs.append(("_since", fhir_instant(self.since)))
        pairs += [("_typeFilter", f) for f in self.type_filters]
        return f"{base_url}{path}?{urlencode(pairs)}"

    def parameters(self) -> dict[str, Any]:
        """The same request as a Parameters resource (POST kick-off, Bulk Data STU 4)."""
        params: list[dict[str, str]] = [{"name": "_outputFormat", "valueString": NDJSON_TYPES[0]}]
        params += [{"name": "_type", "valueString": t} for t in self.types]
        if self.since is not None:
            params.append({"name": "_since", "valueInstant": fhir_instant(self.since)})
        params += [{"name": "_typeFilter", "valueString": f} for f in self.type_filters]
        return {"resourceType": "Parameters", "parameter": params}


@dataclass(frozen=True)
class ExportFile:
    """One file of a manifest: its resource type, URL and (if given) resource count."""

    type: str
    url: str
    count: int | None = None


@dataclass(frozen=True)
class Manifest:
    """A complete-status answer. ``raw`` is the JSON as the server sent it."""

    transaction_time: str
    request: str
    requires_access_token: bool
    output: tuple[ExportFile, ...]
    error: tuple[ExportFile, ...]
    deleted: tuple[ExportFile, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, status_url: str) -> Manifest:
        if not isinstance(data, dict) or not isinstance(data.get("transactionTime"), str):
            raise FatalFhirError(
                "export manifest lacks transactionTime", url=redact_url(status_url), method="GET"
            )

        def files(key: str) -> tuple[ExportFile, ...]:
            out = []
            items = data.get(key) or []
            if not isinstance(items, list) or len(items) > MAX_MANIFEST_FILES:
                raise FatalFhirError(
                    f"export manifest {key} is not a list of at most {MAX_MANIFEST_FILES}",
                    url=redact_url(status_url),
                )
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("url"), str):
                    count = item.get("count")
                    out.append(
                        ExportFile(
                            str(item.get("type") or ""),
                            urljoin(status_url, item["url"]),
                            count if isinstance(count, int) else None,
                        )
                    )
            return tuple(out)

        return cls(
            transaction_time=data["transactionTime"],
            request=str(data.get("request") or ""),
            requires_access_token=data.get("requiresAccessToken") is True,
            output=files("output"),
            error=files("error"),
            deleted=files("deleted"),
            raw=data,
        )


@dataclass(frozen=True)
class PollStatus:
    """One in-progress status answer: ``X-Progress`` text, polls so far, seconds waited."""

    progress: str
    polls: int
    waited: float


OnPoll = Callable[[PollStatus], None]


@dataclass(frozen=True)
class PollStep:
    """One status answer: the manifest when complete, else the seconds to wait, the
    ``X-Progress`` text and the status code."""

    manifest: Manifest | None
    delay: float
    progress: str = ""
    status: int = 200


@dataclass(frozen=True)
class BulkPolicy:
    """Limits of a bulk export.

    ``max_wait``: most seconds slept between polls of one export (default 6 h) before a
    TemporaryFhirError; the export is kept, so a later run polls it again.
    ``max_retry_after`` caps one ``Retry-After`` (some servers ask for hours). Without one,
    polls back off with full jitter from ``poll_base`` to ``poll_max``. ``workers`` bounds
    parallel downloads, ``max_file_bytes`` one file's size, ``download_attempts`` the tries
    (resumed with ``Range``) of one file.
    ``token_origins`` are origins besides the server's that may receive the access token.
    ``gzip`` asks for compressed files (a broken compressed download restarts; an
    uncompressed one resumes where it broke).
    """

    max_wait: float = 6 * 3600.0
    max_retry_after: float = 300.0
    poll_base: float = 1.0
    poll_max: float = 120.0
    workers: int = 3
    max_file_bytes: int = 8 * 1024**3
    download_attempts: int = 5
    token_origins: tuple[str, ...] = ()
    gzip: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def backoff(self, poll: int) -> float:
        return self.poll_base + self.random() * min(self.poll_max, self.poll_base * 2.0**poll)


class BulkClient:
    """The ``$export`` exchanges of one server, through ``client`` (its session and auth)."""

    def __init__(self, client: FhirClient, policy: BulkPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or BulkPolicy()

    # --- kick-off, status, cancel --------------------------------------------------------

    def kick_off(self, request: ExportRequest) -> str:
        """Start an export; returns the absolute status URL (``Content-Location``).

        ``GET`` with the parameters in the query (Bulk Data STU 2/3); a server that answers
        405 is asked again with ``POST`` and a Parameters resource (STU 4).
        """
        url = request.url(self.client.base_url)
        headers = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
        method, body = "GET", None
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._exchange(method, url, headers=headers, token=True, body=body)
            except TemporaryFhirError:
                if attempt >= self.client.retry.max_attempts or method == "POST":
                    raise  # a POST may have started an export: not sent twice
                self.policy.sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if status == 405 and method == "GET":
                method, body = "POST", orjson.dumps(request.parameters())
                url = url.split("?", 1)[0]
                headers = {**headers, "Content-Type": "application/fhir+json"}
                continue
            if status in (429, 503) and attempt < self.client.retry.max_attempts:
                self.policy.sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            if status >= 400:
                raise _error(response, method, url)
            break
        if response.status_code != 202:
            raise FatalFhirError(
                f"$export kick-off answered HTTP {response.status_code}, not 202 Accepted",
                status=response.status_code,
                url=redact_url(url),
                method="GET",
            )
        location = response.headers.get("Content-Location")
        if not location:
            raise FatalFhirError(
                "$export kick-off answered without Content-Location", url=redact_url(url)
            )
        status_url = urljoin(url, location)
        self._check_origin(status_url, "status URL")
        return status_url

    def wait(self, status_url: str, on_poll: OnPoll | None = None) -> Manifest:
        """Poll ``status_url`` until the export completes; returns its manifest.

        Each poll is :meth:`poll`; between polls it sleeps the poll's delay, at most
        :attr:`BulkPolicy.max_wait` in all (then TemporaryFhirError: the export is kept).
        """
        polls, waited = 0, 0.0
        while True:
            polls += 1
            step = self.poll(status_url, polls)
            if step.manifest is not None:
                return step.manifest
            if step.status == 202 and on_poll is not None:
                on_poll(PollStatus(step.progress, polls, waited))
            check_wait(self.policy, waited, step, status_url)
            log.info(
                "export in progress (%s); next poll in %.1f s",
                step.progress or step.status,
                step.delay,
            )
            self.policy.sleep(step.delay)
            waited += step.delay

    def poll(self, status_url: str, polls: int = 1) -> PollStep:
        """One status request: the manifest when complete, else the delay before the next.

        202 and 429 wait ``Retry-After`` (capped) or back off with jitter (``polls`` so far);
        a network fault or 5xx is retried the same way. 404/410 raise ExportExpiredError
        (start a new export); an error answer raises FatalFhirError with the server's text.
        """
        try:
            response = self._exchange("GET", status_url, headers=None, token=True)
        except TemporaryFhirError as exc:
            return PollStep(None, self._delay(polls, None), "", exc.status)
        status = response.status_code
        if status == 200:
            return PollStep(Manifest.from_json(_json(response, status_url), status_url), 0.0)
        if status in (404, 410):
            raise ExportExpiredError(
                f"export status answered HTTP {status}: the export is gone",
                status=status,
                url=redact_url(status_url),
                method="GET",
            )
        if status not in {202, 429} and status < 500:
            raise _error(response, "GET", status_url)
        progress = response.headers.get("X-Progress", "")[:100]
        delay = self._delay(polls, response.headers.get("Retry-After"))
        return PollStep(None, delay, progress, status)

    def cancel(self, status_url: str) -> bool:
        """``DELETE`` the export; True when the server accepted, False when it was gone."""
        try:
            response = self._exchange("DELETE", status_url, headers=None, token=True)
        except TemporaryFhirError:
            return False
        return response.status_code < 400

    def _delay(self, polls: int, retry_after: str | None) -> float:
        hinted = parse_retry_after(retry_after, now=self.policy.clock()) if retry_after else None
        if hinted is not None:
            return min(hinted, self.policy.max_retry_after)
        return self.policy.backoff(polls)

    # --- files ----------------------------------------------------------------------------

    def download(self, file: ExportFile, target: Path, manifest: Manifest) -> int:
        """Stream ``file`` to ``target`` (written as ``target.part`` then renamed); bytes.

        A broken connection is resumed with ``Range`` when the server allows it, else
        restarted, up to ``download_attempts`` tries. 404/410 raise ExportExpiredError.
        """
        self._check_origin(file.url, "file URL", allow_other=True)
        part = target.with_name(target.name + ".part")
        part.unlink(missing_ok=True)
        url, attempt, hops = file.url, 0, 0
        while True:
            attempt += 1
            token = manifest.requires_access_token and self.token_allowed(url)
            have = part.stat().st_size if part.exists() else 0
            encoding = "gzip" if self.policy.gzip else "identity"
            headers = {"Accept": NDJSON_TYPES[0], "Accept-Encoding": encoding}
            if have:
                headers["Range"] = f"bytes={have}-"
                headers["Accept-Encoding"] = "identity"  # ranges count raw bytes
            try:
                response = self._exchange("GET", url, headers=headers, token=token, stream=True)
                with response:
                    status = response.status_code
                    if 300 <= status < 400 and response.headers.get("Location") and hops < 3:
                        # e.g. a pre-signed storage URL; the token follows only if allowed
                        hops, attempt = hops + 1, attempt - 1
                        url = urljoin(url, response.headers["Location"])
                        self._check_origin(url, "file URL", allow_other=True)
                        continue
                    if status in (404, 410):
                        raise ExportExpiredError(
                            f"export file answered HTTP {status}: its link has expired",
                            status=status,
                            url=redact_url(file.url),
                            method="GET",
                        )
                    if status >= 300:
                        raise _error(response, "GET", url)
                    mode = "ab" if status == 206 and have else "wb"
                    self._stream(response, part, mode, file.url)
            except TemporaryFhirError as exc:
                if attempt >= self.policy.download_attempts:
                    raise
                delay = self.policy.backoff(attempt)
                log.warning("download broke (%s); try %d in %.1f s", exc.outcome, attempt, delay)
                self.policy.sleep(delay)
                continue
            part.replace(target)
            return target.stat().st_size

    def _stream(self, response: requests.Response, part: Path, mode: str, url: str) -> None:
        written = part.stat().st_size if mode == "ab" and part.exists() else 0
        try:
            with part.open(mode) as handle:
                for chunk in response.iter_content(_CHUNK):
                    written += len(chunk)
                    if written > self.policy.max_file_bytes:
                        raise FatalFhirError(
                            f"export file exceeds {self.policy.max_file_bytes} bytes",
                            url=redact_url(url),
                            method="GET",
                        )
                    handle.write(chunk)
        except _NETWORK_FAULTS as exc:
            raise TemporaryFhirError(
                f"GET {redact_url(url)} broke off: {type(exc).__name__}",
                outcome=type(exc).__name__,
                url=redact_url(url),
                method="GET",
            ) from None
        except requests.exceptions.ContentDecodingError:
            part.unlink(missing_ok=True)  # a gzip stream cut short cannot be resumed
            raise TemporaryFhirError(
                f"GET {redact_url(url)} broke off mid-stream", url=redact_url(url), method="GET"
            ) from None

    # --- HTTP -----------------------------------------------------------------------------

    def token_allowed(self, url: str) -> bool:
        """Whether the access token may go to ``url``: the server's origin or an allowed one."""
        origins = (self.client.base_url, *self.policy.token_origins)
        return any(same_origin(url, o) for o in origins)

    def _check_origin(self, url: str, what: str, *, allow_other: bool = False) -> None:
        if not url.startswith(("https://", "http://")):
            raise FatalFhirError(f"export {what} is not an http(s) URL", url=redact_url(url))
        if not allow_other and not same_origin(url, self.client.base_url):
            raise FatalFhirError(
                f"refusing an export {what} on another origin", url=redact_url(url)
            )

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None,
        token: bool,
        stream: bool = False,
        body: bytes | None = None,
    ) -> requests.Response:
        """One request; a network fault becomes TemporaryFhirError, 401 refreshes once."""
        client = self.client
        refreshed = False
        while True:
            sent = {"Accept": "application/fhir+json", "User-Agent": _user_agent(client)}
            sent.update(headers or {})
            if token and self.token_allowed(url):
                value = client.auth.authorization(client._transport)
                if value:
                    sent["Authorization"] = value
            client.stats.requests += 1
            try:
                response = client._session.request(
                    method,
                    url,
                    data=body,
                    headers=sent,
                    timeout=client.timeout,
                    verify=client.verify,
                    stream=stream,
                    allow_redirects=False,
                )
            except _NETWORK_FAULTS as exc:
                raise TemporaryFhirError(
                    f"{method} {redact_url(url)}: no answer (network fault)",
                    outcome=type(exc).__name__,
                    url=redact_url(url),
                    method=method,
                ) from None
            except requests.RequestException as exc:  # TLS, a malformed URL, ...
                raise FatalFhirError(
                    f"{method} {redact_url(url)} failed: {type(exc).__name__}",
                    url=redact_url(url),
                    method=method,
                ) from None
            if response.status_code == 401 and token and not refreshed and client.auth.invalidate():
                refreshed = True
                response.close()
                client.stats.auth_refreshes += 1
                continue
            if response.status_code == 401:
                if "Authorization" not in sent:
                    raise FatalFhirError(
                        f"{method} {redact_url(url)} needs the access token, which goes only to "
                        "the server's origin and to FHIRMS_BULK_TOKEN_ORIGINS",
                        status=401,
                        url=redact_url(url),
                        method=method,
                    )
                raise _error(response, method, url)
            return response


def check_wait(policy: BulkPolicy, waited: float, step: PollStep, status_url: str) -> None:
    """TemporaryFhirError when waiting ``step.delay`` more would pass ``policy.max_wait``."""
    if waited + step.delay > policy.max_wait:
        raise TemporaryFhirError(
            f"export not complete after {waited:.0f} s (most: {policy.max_wait:.0f} s); "
            "run again to resume polling it",
            status=step.status,
            url=redact_url(status_url),
            method="GET",
        )


def _user_agent(client: FhirClient) -> str:
    return str(client._headers.get("User-Agent", "fhir-microsystems"))


def _json(response: requests.Response, url: str) -> Any:
    if len(response.content) > MAX_MANIFEST_BYTES:
        raise FatalFhirError(
            f"export manifest exceeds {MAX_MANIFEST_BYTES} bytes", url=redact_url(url)
        )
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise FatalFhirError(
            "export manifest is not JSON", url=redact_url(url), method="GET"
        ) from None


def _error(response: requests.Response, method: str, url: str) -> FhirHttpError:
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    return error_for_status(
        response.status_code,
        reason=response.reason or "",
        body=body,
        url=redact_url(url),
        method=method,
    )


def outcome_messages(lines: Iterable[bytes]) -> list[str]:
    """The issue texts of OperationOutcome NDJSON lines (an export's error files)."""
    out: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append("unreadable line in an export error file")
            continue
        out.append(outcome_text(value) or "OperationOutcome without text")
    return out


__all__ = [
    "BulkClient",
    "BulkPolicy",
    "ExportExpiredError",
    "ExportFile",
    "ExportRequest",
    "Manifest",
    "OnPoll",
    "PollStatus",
    "PollStep",
    "check_wait",
    "outcome_messages",
]
