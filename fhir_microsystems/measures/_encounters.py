"""Which encounter measures an encounter qualifies for, and the follow-up windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from ._inputs import EncounterFact

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


def qualifying_measures(enc: EncounterFact, start: datetime, end: datetime) -> tuple[str, ...]:
    """The :data:`ENCOUNTER_MEASURES` whose initial population ``enc`` belongs to over the
    assessed window ``[start, end)``, by each measure's own rule, whichever period it
    started in: volume by start in the window; lengths of stay (finished), readmission
    (IMP) and ED return (EMER) by end in the window. Only encounters starting in the window
    are assessed (one that started before it is outside the assessment)."""
    if enc.void or enc.start is None or not start <= enc.start < end:
        return ()
    found = ["volume"]
    if enc.end is not None and start <= enc.end < end:
        if enc.cls == "EMER":
            if enc.status == "finished":
                found.append("ed-length-of-stay")
            found.append("ed-return-72h")
        elif enc.cls == "IMP":
            if enc.status == "finished":
                found.append("inpatient-length-of-stay")
            found.append("readmission-30d")
    return tuple(found)


__all__ = [
    "ED_RETURN_WINDOW",
    "ENCOUNTER_MEASURES",
    "READMISSION_WINDOW",
    "qualifying_measures",
]
