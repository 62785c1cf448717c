"""ED length of stay: the median minutes of the attributed finished EMER encounters."""

from __future__ import annotations

from ._catalog import length_of_stay
from ._measure import Measure

#: Cases of a length of stay: ``{cls}``, ``{unit_us}`` (microseconds per unit) and
#: ``{limit_us}`` (the longest stay counted) filled in.
LENGTH_OF_STAY = """
SELECT e.ctx, e.ord, e.key, e.patient, e.cls AS encounter_class,
       TRUE AS "initial-population",
       e.start_us IS NOT NULL AS "measure-population",
       e.start_us IS NOT NULL AND (e.end_us < e.start_us OR e.end_us - e.start_us > {limit_us})
           AS "measure-population-exclusion",
       e.start_us IS NOT NULL AND e.end_us >= e.start_us AND e.end_us - e.start_us <= {limit_us}
           AS "measure-observation",
       CASE WHEN "measure-observation"
            THEN (e.end_us - e.start_us)::DOUBLE / {unit_us}::DOUBLE END AS observed,
       e.start_us IS NULL AS finding
FROM enc e JOIN ctxs c USING (ctx)
WHERE e.cls = '{cls}' AND e.status = 'finished' AND e.end_us >= c.start_us
  AND e.end_us < c.end_us
"""

MINUTE_US = 60_000_000
DAY_US = 86_400_000_000


class EdLengthOfStay(Measure):
    definition = length_of_stay(
        "ed-length-of-stay",
        "EMER",
        unit="min",
        unit_words="minutes",
        limit="7 days (10080 min)",
        precision=1,
        target=240,
    )
    cases = (LENGTH_OF_STAY.format(cls="EMER", unit_us=MINUTE_US, limit_us=7 * DAY_US),)
    finding = ("Encounter.period.start", "finished, no start")


__all__ = ["DAY_US", "LENGTH_OF_STAY", "MINUTE_US", "EdLengthOfStay"]
