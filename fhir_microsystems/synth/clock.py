"""Simulation time: integer minutes since the window start, UTC months, local offsets."""

from __future__ import annotations

import re
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta, timezone

from fhir_microsystems._errors import ConfigurationError

MINUTES_PER_DAY = 1440
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def parse_offset(text: str) -> int:
    """``"-05:00"`` -> -300 (minutes east of UTC)."""
    match = _OFFSET_RE.match(text)
    if not match or int(match[2]) > 14 or int(match[3]) > 59:
        raise ConfigurationError(
            f"utc_offset must look like -05:00, got {text!r}", knob="utc_offset"
        )
    minutes = int(match[2]) * 60 + int(match[3])
    return -minutes if match[1] == "-" else minutes


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def day_before(iso_date: str) -> str:
    """The calendar day before ``YYYY-MM-DD``."""
    return (date.fromisoformat(iso_date) - timedelta(days=1)).isoformat()


class Clock:
    """The window ``[start, start + months)`` in UTC calendar months.

    Times are ints (minutes since the window start, UTC midnight of the first day of
    ``start``'s month). Local dateTimes are written with the fixed ``utc_offset``.
    """

    def __init__(self, start: date, months: int, utc_offset: str) -> None:
        if months < 1:
            raise ConfigurationError("months must be >= 1", knob="months")
        self.start = date(start.year, start.month, 1)
        self.months = months
        self.offset = parse_offset(utc_offset)
        self._utc_base = datetime(self.start.year, self.start.month, 1, tzinfo=UTC)
        self._local_base = self._utc_base.astimezone(timezone(timedelta(minutes=self.offset)))
        self._naive_utc = self._utc_base.replace(tzinfo=None)
        firsts = [add_months(self.start, i) for i in range(months + 1)]
        self.month_starts = [
            int((datetime(d.year, d.month, 1, tzinfo=UTC) - self._utc_base).total_seconds()) // 60
            for d in firsts
        ]
        self.labels = [f"{d.year:04d}-{d.month:02d}" for d in firsts[:-1]]
        #: ``YYYY-MM-01`` of every month start, the window end included.
        self.month_dates = [d.isoformat() for d in firsts]
        self.end = self.month_starts[-1]

    def month_of(self, minute: int) -> int:
        """Index of the month holding ``minute`` (clamped to the window)."""
        return min(max(bisect_right(self.month_starts, minute) - 1, 0), self.months - 1)

    def local(self, minute: int) -> str:
        """A dateTime with the local offset."""
        return (self._local_base + timedelta(minutes=minute)).isoformat()

    def utc(self, minute: int) -> str:
        """A dateTime in UTC with ``Z``."""
        return (self._naive_utc + timedelta(minutes=minute)).isoformat() + "Z"

    def local_date(self, minute: int) -> str:
        """The local calendar date ``YYYY-MM-DD``."""
        return (self._local_base + timedelta(minutes=minute)).date().isoformat()

    def local_minute_of_day(self, minute: int) -> int:
        """Minutes since local midnight."""
        return (minute + self.offset) % MINUTES_PER_DAY

    def local_weekday(self, minute: int) -> int:
        """Local weekday, Monday = 0."""
        return (self._local_base + timedelta(minutes=minute)).weekday()

    def local_midnight(self, minute: int) -> int:
        """The minute of the local midnight starting ``minute``'s local day."""
        return minute - self.local_minute_of_day(minute)

    def date_before(self, days: int) -> str:
        """The UTC calendar date ``days`` before the window start."""
        return (self.start - timedelta(days=days)).isoformat()
