"""Periods and FHIR dateTime parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_microsystems.periods import (
    EARLIEST,
    LATEST,
    Period,
    parse_fhir_datetime,
    period_containing,
    split_periods,
    to_utc,
    trailing_periods,
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T00:30:00+02:00", utc(2025, 2, 28, 22, 30)),
        ("2025-03-31T22:30:00-05:00", utc(2025, 4, 1, 3, 30)),
        ("2025-03-01T00:30:00Z", utc(2025, 3, 1, 0, 30)),
        ("2025-03-01T00:30:00.25Z", utc(2025, 3, 1, 0, 30, 0, 250000)),
        ("2025-03-01T00:30:00", utc(2025, 3, 1, 0, 30)),
        ("2025-03-04", utc(2025, 3, 4)),
        ("2025-03", utc(2025, 3, 1)),
        ("2025", utc(2025, 1, 1)),
    ],
)
def test_parse_fhir_datetime(text: str, expected: datetime) -> None:
    assert parse_fhir_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025", utc(2026, 1, 1)),
        ("2025-12", utc(2026, 1, 1)),
        ("2024-02-29", utc(2024, 3, 1)),
        ("2025-03-01T10:00:00Z", utc(2025, 3, 1, 10)),
    ],
)
def test_parse_upper_bound_of_partial_dates(text: str, expected: datetime) -> None:
    assert parse_fhir_datetime(text, upper=True) == expected


@pytest.mark.parametrize("text", ["", "2025-13", "2025-02-30", "03/01/2025", "2025-03-01T25:00Z"])
def test_parse_rejects_non_dates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fhir_datetime(text)


@given(
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_parse_round_trips_isoformat(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_fhir_datetime(aware.isoformat()) == aware


def test_period_labels_and_bounds() -> None:
    moment = utc(2025, 5, 17, 12)
    assert period_containing(moment, "month") == Period(
        utc(2025, 5, 1), utc(2025, 6, 1), "2025-05", "month"
    )
    quarter = period_containing(moment, "quarter")
    assert (quarter.label, quarter.start, quarter.end) == (
        "2025-Q2",
        utc(2025, 4, 1),
        utc(2025, 7, 1),
    )
    year = period_containing(utc(2025, 12, 31, 23), "year")
    assert (year.label, year.end) == ("2025", utc(2026, 1, 1))
    assert Period.parse("2025-Q2") == quarter
    assert Period.parse("2025-05").label == "2025-05"
    with pytest.raises(ValueError):
        Period.parse("2025-Q5")


def test_periods_are_half_open() -> None:
    march = Period.parse("2025-03")
    assert utc(2025, 3, 1) in march
    assert utc(2025, 4, 1) not in march
    assert march.overlaps(utc(2025, 2, 1), utc(2025, 3, 1, 0, 0, 1))
    assert not march.overlaps(utc(2025, 2, 1), utc(2025, 3, 1))
    assert march.overlaps(None, None)


def test_split_periods() -> None:
    months = split_periods(utc(2024, 11, 15), utc(2025, 2, 1), "month")
    assert [p.label for p in months] == ["2024-11", "2024-12", "2025-01"]
    quarters = split_periods(utc(2025, 1, 1), utc(2025, 12, 31), "quarter")
    assert [p.label for p in quarters] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert split_periods(utc(2025, 2, 1), utc(2025, 1, 1), "year") == []
    with pytest.raises(ValueError):
        split_periods(utc(2025, 1, 1), utc(2025, 2, 1), "week")  # type: ignore[arg-type]


def test_trailing_periods_cover_twelve_months_up_to_latest() -> None:
    months = trailing_periods(utc(2021, 7, 10, 6), "month")
    assert len(months) == 12
    assert (months[0].label, months[-1].label) == ("2020-08", "2021-07")
    quarters = trailing_periods(utc(2021, 7, 10, 6), "quarter")
    assert [q.label for q in quarters] == ["2020-Q4", "2021-Q1", "2021-Q2", "2021-Q3"]
    assert [y.label for y in trailing_periods(utc(2021, 7, 10, 6), "year")] == ["2021"]


@pytest.mark.parametrize(
    ("value", "upper", "expected"),
    [
        ("9999-12-31", True, LATEST),
        ("9999-12-31", False, LATEST),
        ("9999", True, LATEST),
        ("9999-12-31T23:00:00-14:00", False, LATEST),
        ("9999-12-31T23:59:59.999Z", False, LATEST),
        ("0001-01-01T00:00:00+14:00", False, EARLIEST),
        ("0001-01-01", False, EARLIEST),
        ("9997-12-31T23:00:00-01:00", False, LATEST),
        ("9997-12-31T22:00:00-01:00", False, datetime(9997, 12, 31, 23, tzinfo=UTC)),
    ],
)
def test_extreme_instants_are_clamped(value: str, upper: bool, expected: datetime) -> None:
    assert parse_fhir_datetime(value, upper=upper) == expected


@pytest.mark.parametrize("value", ["0000-01-01", "9999-13-01", "9999-02-30T00:00:00Z"])
def test_clamping_still_rejects_what_is_not_a_date(value: str) -> None:
    with pytest.raises(ValueError):
        parse_fhir_datetime(value)


def test_to_utc_clamps_instants_outside_the_range() -> None:
    late = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14)))
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    assert to_utc(late) == LATEST
    assert to_utc(early) == EARLIEST
    assert period_containing(late, "month").next().start > LATEST  # arithmetic still works
    assert len(split_periods(LATEST, datetime(9998, 4, 1, tzinfo=UTC), "month")) == 3
