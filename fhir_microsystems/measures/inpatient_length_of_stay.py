"""Inpatient length of stay: the median days of the attributed finished IMP encounters."""

from __future__ import annotations

from ._catalog import length_of_stay
from ._measure import Measure
from .ed_length_of_stay import DAY_US, LENGTH_OF_STAY


class InpatientLengthOfStay(Measure):
    definition = length_of_stay(
        "inpatient-length-of-stay",
        "IMP",
        unit="d",
        unit_words="days",
        limit="365 days",
        precision=2,
        target=5,
    )
    cases = (LENGTH_OF_STAY.format(cls="IMP", unit_us=DAY_US, limit_us=365 * DAY_US),)
    finding = ("Encounter.period.start", "finished, no start")


__all__ = ["InpatientLengthOfStay"]
