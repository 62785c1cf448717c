"""Reporting periods (month, quarter, year) and FHIR dateTime parsing, all in UTC.

A :class:`Period` is half-open, ``[start, end)``, with aware UTC datetimes and a label such
as ``"2025-03"``, ``"2025-Q1"`` or ``"2025"``. FHIR ``dateTime`` values with offsets become
aware UTC datetimes; partial values (``"2025"``, ``"2025-03"``, ``"2025-03-04"``) are read as
the start of that year / month / day in UTC, or, with ``upper=True``, as the (exclusive) end
of it, which is what a ``Period.end`` given as a date means.

Every instant is held between :data:`EARLIEST` (0002-01-01) and :data:`LATEST` (9998-01-01)
UTC: a valid FHIR value beyond them (``9999-12-31`` as an open end, ``0001-01-01T00:00:00+14:00``,
whose UTC instant is before year 1) is clamped to the nearer bound, so it sorts where it should
and date arithmetic on it (a 30-day window, the next period) cannot overflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

Granularity = Literal["month", "quarter", "year"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)

#: The range every parsed instant is clamped to (a year inside Python's at each end).
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 1, 1, tzinfo=UTC)

_DATETIME_RE = re.compile(
    r"^(?P<year>\d{4})"
    r"(?:-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A half-open UTC interval ``[start, end)`` with a human label."""

    start: datetime
    end: datetime
    label: str
    granularity: Granularity

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    def overlaps(self, start: datetime | None, end: datetime | None) -> bool:
        """Whether ``[start, end)`` (None = open) intersects this period."""
        return (start is None or start < self.end) and (end is None or end > self.start)

    def next(self) -> Period:
        """The period of the same granularity that follows this one."""
        return period_containing(self.end, self.granularity)

    @classmethod
    def parse(cls, label: str) -> Period:
        """``"2025-03"`` -> month, ``"2025-Q1"`` -> quarter, ``"2025"`` -> year."""
        match = re.fullmatch(r"(\d{4})(?:-(?:(\d{2})|Q([1-4])))?", label)
        if not match:
            raise ValueError(f"not a period label: {label!r}")
        year = int(match[1])
        if match[2]:
            return period_containing(datetime(year, int(match[2]), 1, tzinfo=UTC), "month")
        if match[3]:
            month = 3 * (int(match[3]) - 1) + 1
            return period_containing(datetime(year, month, 1, tzinfo=UTC), "quarter")
        return period_containing(datetime(year, 1, 1, tzinfo=UTC), "year")


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + (moment.month - 1) + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def period_containing(moment: datetime, granularity: Granularity) -> Period:
    """The period of ``granularity`` that contains ``moment`` (converted to UTC)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    moment = to_utc(moment)
    if granularity == "month":
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        return Period(
            start, _add_months(start, 1), f"{moment.year:04d}-{moment.month:02d}", "month"
        )
    if granularity == "quarter":
        quarter = (moment.month - 1) // 3
        start = datetime(moment.year, 3 * quarter + 1, 1, tzinfo=UTC)
        return Period(start, _add_months(start, 3), f"{moment.year:04d}-Q{quarter + 1}", "quarter")
    start = datetime(moment.year, 1, 1, tzinfo=UTC)
    return Period(start, _add_months(start, 12), f"{moment.year:04d}", "year")


def split_periods(start: datetime, end: datetime, granularity: Granularity) -> list[Period]:
    """The whole periods covering ``[start, end)``: the first contains ``start``, the last
    contains the instant just before ``end``. Empty if ``end <= start``."""
    start, end = to_utc(start), to_utc(end)
    return list(_iter_periods(start, end, granularity))


def _iter_periods(start: datetime, end: datetime, granularity: Granularity) -> Iterator[Period]:
    if end <= start:
        return
    current = period_containing(start, granularity)
    while current.start < end:
        yield current
        current = current.next()


_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}


def trailing_periods(latest: datetime, granularity: Granularity, months: int = 12) -> list[Period]:
    """The periods covering ``months`` months and ending with the one containing
    ``latest`` (12 months, 4 quarters or 1 year by default)."""
    last = period_containing(latest, granularity)
    count = max(1, months // _MONTHS_IN[granularity])
    return split_periods(
        _add_months(last.end, -count * _MONTHS_IN[granularity]), last.end, granularity
    )


def to_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC); one whose UTC
    instant is outside years 1..9999 becomes :data:`EARLIEST` or :data:`LATEST`."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return LATEST if moment.year > 1 else EARLIEST


def _clamp(moment: datetime) -> datetime:
    if moment < EARLIEST:
        return EARLIEST
    return LATEST if moment > LATEST else moment


def parse_fhir_datetime(value: str, *, upper: bool = False) -> datetime:
    """Parse a FHIR ``date``/``dateTime``/``instant`` into an aware UTC datetime.

    Partial values give the start of the year/month/day in UTC (or with ``upper=True`` the
    exclusive end of it). A time without an offset (not valid FHIR, but seen) is taken as UTC.
    The result is clamped to [:data:`EARLIEST`, :data:`LATEST`]. Raises ``ValueError`` for
    anything else.
    """
    if isinstance(value, str) and _is_full_datetime(value):
        try:
            moment = datetime.fromisoformat(value).astimezone(UTC)
        except (ValueError, OverflowError):
            pass  # e.g. hour 24, an offset of a day or more, year 1 or 9999: the general parser
        else:
            return moment if EARLIEST <= moment <= LATEST else _clamp(moment)
    return _parse_fhir_datetime(value, upper=upper)


def _is_full_datetime(value: str) -> bool:
    """Whether ``value`` has the shape ``YYYY-MM-DDThh:mm:ss`` + ``Z`` or ``±hh:mm``.

    Such values (the common case) are read by :meth:`datetime.fromisoformat`, which checks
    that the remaining characters are ASCII digits.
    """
    size = len(value)
    if size == 25:
        if value[19] not in "+-" or value[22] != ":":
            return False
    elif size != 20 or value[19] != "Z":
        return False
    return (
        value[4] == "-"
        and value[7] == "-"
        and value[10] == "T"
        and value[13] == ":"
        and value[16] == ":"
    )


def _parse_fhir_datetime(value: str, *, upper: bool = False) -> datetime:
    """The general parser of :func:`parse_fhir_datetime` (every FHIR form), clamped."""
    match = _DATETIME_RE.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"not a FHIR dateTime: {value!r}")
    year = int(match["year"])
    try:
        if year >= LATEST.year:  # the value is checked; its (exclusive) end is past LATEST
            moment = _parse_match(match, year, upper=False)
            return LATEST if upper else _clamp(moment)
        return _clamp(_parse_match(match, year, upper=upper))
    except OverflowError:  # the offset moves the instant outside years 1..9999
        return LATEST if year >= LATEST.year else EARLIEST


def _parse_match(match: re.Match[str], year: int, *, upper: bool) -> datetime:
    if match["month"] is None:
        start = datetime(year, 1, 1, tzinfo=UTC)
        return _add_months(start, 12) if upper else start
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        return _add_months(start, 1) if upper else start
    day = int(match["day"])
    if match["hour"] is None:
        start = datetime(year, month, day, tzinfo=UTC)
        return start + timedelta(days=1) if upper else start
    fraction = match["fraction"] or ""
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    local = datetime(
        year,
        month,
        day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        micro,
    )
    tz = match["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        return (local - sign * offset).replace(tzinfo=UTC)
    return local.replace(tzinfo=UTC)


__all__ = [
    "EARLIEST",
    "GRANULARITIES",
    "LATEST",
    "Granularity",
    "Period",
    "parse_fhir_datetime",
    "period_containing",
    "split_periods",
    "to_utc",
    "trailing_periods",
]
