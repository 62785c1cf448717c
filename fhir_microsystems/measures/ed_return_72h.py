"""Return to the ED within 72 hours of the attributed EMER encounters."""

from __future__ import annotations

from ._catalog import follow_up
from ._encounters import ED_RETURN_WINDOW
from ._measure import Measure
from .readmission_30d import FOLLOW_UP, MICROSECOND


class EdReturn72h(Measure):
    definition = follow_up(
        "ed-return-72h",
        "EMER",
        window="72 hours",
        what="return visit",
        exclusion=None,
        target=0.05,
    )
    cases = (
        FOLLOW_UP.format(cls="EMER", window_us=ED_RETURN_WINDOW // MICROSECOND, excluded="FALSE"),
    )
    pending = True


__all__ = ["EdReturn72h"]
