"""FhirClient: reads, paged search, capability checks and writes of a FHIR R4 server."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urljoin

import orjson

from fhir_microsystems._errors import FatalFhirError, InputError
from fhir_microsystems._fhir_id import is_fhir_id

from ._capabilities import Capabilities
from ._http import HttpExchange, parse_json
from ._origin import within_base
from ._outcome import outcome_text, redact_url
from ._search import (
    DateRanges,
    Params,
    SearchPage,
    escape_token,
    search_params,
)

_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


@dataclass(frozen=True)
class WriteResult:
    """Outcome of a single write: HTTP status, returned resource (if any), Location header."""

    status: int
    resource: dict[str, Any] | None
    location: str | None

    @property
    def created(self) -> bool:
        return self.status == 201


@dataclass(frozen=True)
class EntryFailure:
    """A failed entry of a batch: its index, ``METHOD url`` (values redacted), status, text."""

    index: int
    request: str
    status: int
    outcome: str


@dataclass(frozen=True)
class BatchResult:
    """A batch-response Bundle with its failed entries picked out."""

    bundle: dict[str, Any]
    failures: list[EntryFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class FhirClient(HttpExchange):
    """A FHIR R4 REST client with pooling, retries, paging and pluggable auth.

    ``FhirClient(base_url, *, auth=None, timeout=(5, 60), retry=RetryPolicy(), verify=True,
    user_agent=..., session=None, pool_size=10, on_retry=None)``. One ``requests.Session``
    per client (a session passed in is used as is and not closed); not meant to cross
    processes. Use it as a context manager or call :meth:`close`.
    """

    _capabilities: Capabilities | None = None

    # --- capabilities -------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        """The server's CapabilityStatement, read from ``/metadata`` once and cached."""
        if self._capabilities is None:
            statement = self._get_json(self.base_url + "/metadata")
            self._capabilities = Capabilities.from_statement(statement)
        return self._capabilities

    def require(
        self,
        *,
        fhir_version: str | None = "4.0",
        searches: Mapping[str, Iterable[str]] | None = None,
        interactions: Mapping[str, Iterable[str]] | None = None,
    ) -> Capabilities:
        """Fail early (CapabilityError) unless the server offers all of the given features."""
        caps = self.capabilities()
        caps.require(fhir_version=fhir_version, searches=searches, interactions=interactions)
        return caps

    # --- reads and searches -------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """``GET Type/id``; a deleted resource raises ResourceGoneError."""
        return self._get_json(
            f"{self.base_url}/{_check_type(resource_type)}/{_check_id(resource_id)}"
        )

    def search_pages(
        self,
        resource_type: str,
        params: Params | None = None,
        *,
        count: int | None = None,
        since: datetime | None = None,
        date_ranges: DateRanges | None = None,
        include: Iterable[str] = (),
        revinclude: Iterable[str] = (),
    ) -> Iterator[SearchPage]:
        """Search with GET and yield one page at a time, following ``next`` links verbatim.

        ``params`` (mapping or pairs, repeated keys allowed) plus the helpers of
        :func:`search_params`: ``count`` (a ``_count`` hint), ``since`` (``_lastUpdated=gt``),
        ``date_ranges``, ``include`` and ``revinclude``. A next link to another origin raises
        FatalFhirError; an expired one (410) raises ResourceGoneError: restart the search.
        """
        pairs = search_params(
            params,
            count=count,
            since=since,
            date_ranges=date_ranges,
            include=include,
            revinclude=revinclude,
        )
        url: str | None = f"{self.base_url}/{_check_type(resource_type)}"
        if pairs:
            url = f"{url}?{urlencode(pairs)}"
        seen: set[str] = set()
        while url is not None:
            seen.add(url)
            bundle = self._get_json(url)
            if bundle.get("resourceType") != "Bundle":
                raise FatalFhirError(
                    "search answered with something other than a Bundle",
                    url=redact_url(url),
                    method="GET",
                )
            page = SearchPage.from_bundle(url, bundle)
            yield page
            url = self._next_url(url, page.next_url, seen)

    def search(
        self,
        resource_type: str,
        params: Params | None = None,
        *,
        count: int | None = None,
        since: datetime | None = None,
        date_ranges: DateRanges | None = None,
        include: Iterable[str] = (),
        revinclude: Iterable[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Like :meth:`search_pages` but yield only the matching resources."""
        for page in self.search_pages(
            resource_type,
            params,
            count=count,
            since=since,
            date_ranges=date_ranges,
            include=include,
            revinclude=revinclude,
        ):
            yield from page.matches

    def _next_url(self, current: str, link: str | None, seen: set[str]) -> str | None:
        if link is None:
            return None
        target = urljoin(current, link)
        if not within_base(target, self.base_url):
            raise FatalFhirError(
                f"refusing a search next link outside the base URL {self.base_url} "
                "(another origin or path would receive the credential)",
                url=redact_url(target),
                method="GET",
            )
        if target in seen:
            raise FatalFhirError(
                "search next link repeats an earlier page", url=redact_url(target), method="GET"
            )
        return target

    # --- writes -------------------------------------------------------------------------

    def put(self, resource: Mapping[str, Any]) -> WriteResult:
        """``PUT Type/id`` (update, or create with the given id where the server allows it)."""
        rtype = _check_type(resource.get("resourceType"))
        rid = _check_id(resource.get("id"))
        return self._write("PUT", f"{self.base_url}/{rtype}/{rid}", resource)

    def upsert(self, resource: Mapping[str, Any], identifier: tuple[str, str]) -> WriteResult:
        """Conditional update ``PUT Type?identifier=system|value``.

        Creates when nothing matches, updates the one match, and raises MultipleMatchesError
        (412) when several resources carry the identifier.
        """
        rtype = _check_type(resource.get("resourceType"))
        system, value = identifier
        query = urlencode([("identifier", f"{escape_token(system)}|{escape_token(value)}")])
        return self._write("PUT", f"{self.base_url}/{rtype}?{query}", resource)

    def transaction(
        self, bundle: Mapping[str, Any], *, prefer: str | None = None
    ) -> dict[str, Any]:
        """POST a transaction Bundle; returns the transaction-response Bundle.

        An empty success answer (some servers send one for ``Prefer: return=minimal``) gives
        a transaction-response without entries.
        """
        return self._post_bundle(bundle, "transaction", prefer)

    def batch(self, bundle: Mapping[str, Any], *, prefer: str | None = None) -> BatchResult:
        """POST a batch Bundle; returns the response with each failed entry's outcome text.

        An entry without a response entry (or without a readable status) counts as failed.
        """
        response = self._post_bundle(bundle, "batch", prefer)
        failures: list[EntryFailure] = []
        answers = response.get("entry") or []
        for index, sent in enumerate(bundle.get("entry") or []):
            entry = answers[index] if index < len(answers) else None
            answer = entry.get("response") if isinstance(entry, dict) else None
            answer = answer if isinstance(answer, dict) else {}
            status = _status_code(answer.get("status"))
            if 0 < status < 400:
                continue
            request = sent.get("request", {}) if isinstance(sent, dict) else {}
            described = f"{request.get('method', '?')} {redact_url(str(request.get('url', '?')))}"
            text = outcome_text(answer.get("outcome")) or str(
                answer.get("status") or "no response entry"
            )
            failures.append(EntryFailure(index, described, status, text))
        return BatchResult(response, failures)

    def _post_bundle(
        self, bundle: Mapping[str, Any], kind: str, prefer: str | None
    ) -> dict[str, Any]:
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != kind:
            raise InputError(f"expected a Bundle of type {kind}", field="Bundle.type")
        headers = {"Prefer": prefer} if prefer else None
        response = self._send(
            "POST",
            self.base_url,
            body=orjson.dumps(bundle),
            headers=headers,
            idempotent=_bundle_idempotent(bundle),
        )
        answer = parse_json(response, "POST", self.base_url, allow_empty=kind == "transaction")
        if not answer:  # an empty 2xx (e.g. Prefer: return=minimal): all entries succeeded
            return {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
        if answer.get("type") != f"{kind}-response":
            raise FatalFhirError(
                f"server answered a {kind} without a {kind}-response Bundle",
                status=response.status_code,
                url=self.base_url,
                method="POST",
            )
        return answer

    def _write(self, method: str, url: str, resource: Mapping[str, Any]) -> WriteResult:
        response = self._send(
            method, url, body=orjson.dumps(resource), headers={"Prefer": "return=representation"}
        )
        body = _json_or_none(response.content)
        location = response.headers.get("Location") or response.headers.get("Content-Location")
        return WriteResult(response.status_code, body, location)


def _bundle_idempotent(bundle: Mapping[str, Any]) -> bool:
    """False if any entry is a PATCH or an unconditional POST (a replay could duplicate)."""
    for entry in bundle.get("entry") or ():
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            continue
        method = str(request.get("method", "")).upper()
        if method == "PATCH" or (method == "POST" and not request.get("ifNoneExist")):
            return False
    return True


def _json_or_none(content: bytes) -> dict[str, Any] | None:
    """The resource a write returned, if it returned one as JSON."""
    try:
        value = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _status_code(value: Any) -> int:
    head = str(value or "").strip().split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


def _check_type(value: Any) -> str:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise InputError("resourceType is missing or not a FHIR type name", field="resourceType")
    return value


def _check_id(value: Any) -> str:
    if not is_fhir_id(value):
        raise InputError(
            f"id {str(value)[:80]!r} is missing or not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})",
            field="id",
        )
    return str(value)


__all__ = ["BatchResult", "EntryFailure", "FhirClient", "WriteResult"]
