"""Search helpers: parameter building, one page of a searchset, origin checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fhir_microsystems._errors import InputError

from ._origin import same_origin

#: Search parameters as a mapping (a sequence value repeats the key) or a list of pairs.
Params = Mapping[str, str | int | Sequence[str]] | Sequence[tuple[str, str | int]]

#: Date parameter -> (start, end): ``ge<start>`` and ``lt<end>`` (either may be None).
DateRanges = Mapping[str, tuple[date | datetime | str | None, date | datetime | str | None]]


@dataclass(frozen=True)
class SearchPage:
    """One page of a searchset Bundle.

    ``matches`` are entries with search mode ``match`` (or none), ``included`` those with
    mode ``include``, ``outcomes`` the OperationOutcomes of mode ``outcome``. ``url`` is
    the page's URL; it may carry search values, so never log it.
    """

    url: str
    matches: list[dict[str, Any]] = field(default_factory=list)
    included: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    next_url: str | None = None

    @classmethod
    def from_bundle(cls, url: str, bundle: Mapping[str, Any]) -> SearchPage:
        page = cls(url=url, total=_int_or_none(bundle.get("total")), next_url=_next(bundle))
        for entry in bundle.get("entry") or ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            search = entry.get("search")
            mode = search.get("mode", "match") if isinstance(search, dict) else "match"
            if mode == "include":
                page.included.append(resource)
            elif mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                page.outcomes.append(resource)
            else:
                page.matches.append(resource)
        return page


def _next(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def fhir_instant(moment: datetime) -> str:
    """A timezone-aware datetime as a FHIR instant in UTC (millisecond precision, ``Z``)."""
    if moment.tzinfo is None:
        raise InputError("search datetimes must be timezone-aware", field="since")
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _date_value(value: date | datetime | str) -> str:
    if isinstance(value, datetime):
        return fhir_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def search_params(
    params: Params | None = None,
    *,
    count: int | None = None,
    since: datetime | None = None,
    date_ranges: DateRanges | None = None,
    include: Iterable[str] = (),
    revinclude: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Flatten search parameters into ordered pairs (repeated keys allowed).

    ``since`` adds ``_lastUpdated=gt<instant>``; ``date_ranges`` maps a date parameter to
    ``(start, end)`` giving ``ge<start>`` and ``lt<end>`` (either may be None); ``include`` and
    ``revinclude`` add one ``_include`` / ``_revinclude`` each; ``count`` adds ``_count``
    (a page-size hint the server may lower).
    """
    pairs: list[tuple[str, str]] = []
    items = params.items() if isinstance(params, Mapping) else (params or ())
    for key, value in items:
        if isinstance(value, str | int):
            pairs.append((key, str(value)))
        else:
            pairs.extend((key, str(v)) for v in value)
    if since is not None:
        pairs.append(("_lastUpdated", "gt" + fhir_instant(since)))
    for name, (start, end) in (date_ranges or {}).items():
        if start is not None:
            pairs.append((name, "ge" + _date_value(start)))
        if end is not None:
            pairs.append((name, "lt" + _date_value(end)))
    pairs += [("_include", v) for v in include]
    pairs += [("_revinclude", v) for v in revinclude]
    if count is not None:
        pairs.append(("_count", str(count)))
    return pairs


def escape_token(value: str) -> str:
    """Escape ``\\``, ``|``, ``,`` and ``$`` in a search token value."""
    for char in "\\|,$":
        value = value.replace(char, "\\" + char)
    return value


__all__ = [
    "DateRanges",
    "Params",
    "SearchPage",
    "escape_token",
    "fhir_instant",
    "same_origin",
    "search_params",
]
