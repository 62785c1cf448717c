"""Readmission within 30 days of the attributed IMP encounters (deaths excluded)."""

from __future__ import annotations

from datetime import timedelta

from ._catalog import follow_up
from ._encounters import READMISSION_WINDOW
from ._measure import Measure

#: Cases of a follow-up measure: ``{cls}``, ``{window_us}`` and ``{excluded}`` (an SQL
#: condition on ``e`` and ``p``, the patient) filled in.
FOLLOW_UP = """
WITH idx AS (
    SELECT e.ctx, e.ord, e.key, e.patient, e.end_us, c.data_end_us, ({excluded}) AS excluded,
           EXISTS (
               SELECT 1 FROM timeline t
               WHERE t.patient = e.patient AND t.key <> e.key AND t.cls = '{cls}'
                 AND NOT t.void AND t.start_us > e.end_us AND t.start_us <= e.end_us + {window_us}
           ) AS followed
    FROM enc e JOIN ctxs c USING (ctx) LEFT JOIN pat p ON p.key = e.patient
    WHERE e.cls = '{cls}' AND NOT e.void AND e.end_us >= c.start_us AND e.end_us < c.end_us
)
SELECT ctx, ord, key, patient, '{cls}' AS encounter_class,
       TRUE AS "initial-population", TRUE AS denominator,
       excluded AS "denominator-exclusion",
       NOT excluded AND followed AS numerator,
       NOT excluded AND NOT followed AND data_end_us < end_us + {window_us} AS pending
FROM idx
"""

#: One microsecond: the unit of the fact tables' times.
MICROSECOND = timedelta(microseconds=1)


class Readmission30d(Measure):
    definition = follow_up(
        "readmission-30d",
        "IMP",
        window="30 days",
        what="readmission",
        exclusion="Denominator encounters with discharge disposition code exp (expired), or whose "
        "patient has a deceasedDateTime at or before the encounter's period.end.",
        target=0.15,
    )
    cases = (
        FOLLOW_UP.format(
            cls="IMP",
            window_us=READMISSION_WINDOW // MICROSECOND,
            excluded="coalesce(e.discharge = 'exp', FALSE)"
            " OR coalesce(p.deceased_us <= e.end_us, FALSE)",
        ),
    )
    pending = True


__all__ = ["FOLLOW_UP", "MICROSECOND", "Readmission30d"]
