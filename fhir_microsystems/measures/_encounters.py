"""Which encounter measures an encounter qualifies for, and the follow-up windows."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from ._inputs import VOID_ENCOUNTER_STATUSES

READMISSION_WINDOW = timedelta(days=30)
ED_RETURN_WINDOW = timedelta(hours=72)


#: The encounter measures whose population is a set of encounters (coverage is reported
#: for these: encounters that qualify by the measure's rule vs. those counted in a report).
ENCOUNTER_MEASURES = (
    "volume",
    "ed-length-of-stay",
    "inpatient-length-of-stay",
    "readmission-30d",
    "ed-return-72h",
)


def qualifying_counts(table: pa.Table, start: datetime, end: datetime) -> Counter[str]:
    """How many encounters of ``table`` (an encounter month table: ``status``,
    ``class_code``, ``start``, ``end``) belong to the initial population of each of the
    :data:`ENCOUNTER_MEASURES` over the assessed window ``[start, end)``, by each measure's
    own rule, whichever period they started in: volume by start in the window; lengths of
    stay (finished), readmission (IMP) and ED return (EMER) by end in the window. Only
    encounters starting in the window are assessed (one that started before it is outside
    the assessment); void ones (:data:`VOID_ENCOUNTER_STATUSES`) never are."""

    def within(column: str) -> pc.Expression:
        return (pc.field(column) >= start) & (pc.field(column) < end)

    def of(cls: str) -> pc.Expression:
        return within("end") & (pc.field("class_code") == cls)

    finished = pc.field("status") == "finished"
    rules = {
        "volume": pc.scalar(True),
        "ed-length-of-stay": of("EMER") & finished,
        "ed-return-72h": of("EMER"),
        "inpatient-length-of-stay": of("IMP") & finished,
        "readmission-30d": of("IMP"),
    }
    assessed = table.filter(
        ~pc.field("status").isin(sorted(VOID_ENCOUNTER_STATUSES)) & within("start")
    )
    counts: Counter[str] = Counter()
    for measure, rule in rules.items():
        counts[measure] = assessed.filter(rule).num_rows
    return counts


__all__ = [
    "ED_RETURN_WINDOW",
    "ENCOUNTER_MEASURES",
    "READMISSION_WINDOW",
    "qualifying_counts",
]
