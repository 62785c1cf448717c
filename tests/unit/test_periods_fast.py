"""The ``fromisoformat`` fast path of ``parse_fhir_datetime`` agrees with the general parser."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_microsystems.periods import _is_full_datetime, _parse_fhir_datetime, parse_fhir_datetime

TRICKY = [
    "2025-01-27T09:33:00-05:00",
    "2025-01-27T09:33:00+05:30",
    "2025-01-27T09:33:00Z",
    "2025-01-27T09:33:00-00:00",
    "2025-01-27T09:33:00+00:00",
    "2025-01-27T09:33:00+23:59",
    "2025-01-27T09:33:00+24:00",
    "2025-01-27T09:33:00-99:99",
    "2025-01-27T09:33:00+01:75",
    "2025-01-27T24:00:00Z",
    "2025-01-27T23:59:60Z",
    "2025-02-29T10:00:00Z",
    "2024-02-29T10:00:00+01:00",
    "2025-12-31T23:30:00-05:00",
    "2025-01-27T09:33:00.5Z",
    "2025-01-27T09:33:00.123456789+01:00",
    "2025-01-27T09:33-05:00",
    "2025-01-27T09:33",
    "2025-01-27T09:33:00",
    "2025-01-27",
    "2025-01",
    "2025",
    " 2025-01-27T09:33:00Z",
    "2025-01-27T09:33:00Z ",
    "2025-01-27 09:33:00+01:00",
    "2025-01-27t09:33:00+01:00",
    "2025-01-27T09:33:00z",
    "2025-01-27T09:33:00+0100",
    "2025-01-27T09:33:00+01:00:30",
    "20250127T093300+01:00",
    "2025-01-27T0\u0669:33:00Z",
    "2025-01-27T09:33:00+01:0\u0669",
    "\u0662025-01-27T09:33:00+01:00",
    "2025-W05-1T09:33:00Z",
    "2025-01-27T09:3a:00Z",
    "2025-01-27T09:33:00+1:000",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:00:00-05:00",
    "",
]


def outcome(parse: object, value: str, upper: bool) -> object:
    try:
        return parse(value, upper=upper)  # type: ignore[operator]
    except (ValueError, OverflowError) as error:
        return type(error)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("value", TRICKY)
def test_fast_path_matches_general_parser(value: str, upper: bool) -> None:
    fast, slow = (
        outcome(parse_fhir_datetime, value, upper),
        outcome(_parse_fhir_datetime, value, upper),
    )
    assert fast == slow
    if isinstance(fast, datetime):
        assert isinstance(slow, datetime)
        assert fast.tzinfo is slow.tzinfo
        assert repr(fast) == repr(slow)


def test_fast_path_taken_for_full_values_only() -> None:
    assert _is_full_datetime("2025-01-27T09:33:00-05:00")
    assert _is_full_datetime("2025-01-27T09:33:00Z")
    assert not _is_full_datetime("2025-01-27T09:33:00.5Z")
    assert not _is_full_datetime("2025-01-27")
    assert not _is_full_datetime("2025-01-27 09:33:00+01:00")


@given(
    st.text(alphabet="0123456789-:+TZ.\u0669 ", min_size=18, max_size=26),
    st.booleans(),
)
def test_fast_path_matches_general_parser_on_noise(value: str, upper: bool) -> None:
    assert outcome(parse_fhir_datetime, value, upper) == outcome(_parse_fhir_datetime, value, upper)


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    st.booleans(),
)
def test_fast_path_matches_general_parser_on_datetimes(
    moment: datetime, offset: int, zulu: bool
) -> None:
    sign = "+" if offset >= 0 else "-"
    tz = "Z" if zulu else f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    value = moment.strftime("%Y-%m-%dT%H:%M:%S") + tz
    assert _is_full_datetime(value)
    fast, slow = parse_fhir_datetime(value), _parse_fhir_datetime(value)
    assert fast == slow
    assert fast.tzinfo is slow.tzinfo
