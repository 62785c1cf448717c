"""Volume: the attributed encounters that started in the period and their patients."""

from __future__ import annotations

from ._catalog import COUNTED, IN_PERIOD, GroupDefinition, MeasureDefinition, pop
from ._measure import Measure
from .continuity_of_care import STARTED

ENCOUNTERS = f"""
SELECT ctx, ord, key, patient, cls AS encounter_class, TRUE AS "initial-population"
FROM ({STARTED})
"""

PATIENTS = f"""
SELECT DISTINCT ctx, 0 AS ord, patient AS key, patient, NULL AS encounter_class,
       TRUE AS "initial-population"
FROM ({STARTED}) WHERE patient IS NOT NULL
"""


class Volume(Measure):
    definition = MeasureDefinition(
        id="volume",
        name="Volume",
        title="Encounter and patient volume",
        description=(
            "Number of encounters attributed to the microsystem that started in the period and "
            "number of distinct patients they concern (two groups)."
        ),
        scoring="cohort",
        improvement=None,
        subject="Encounter",
        measure_type="structure",
        groups=(
            GroupDefinition(
                id="encounters",
                description="Attributed encounters that started in the period.",
                populations=(
                    pop(
                        "initial-population",
                        "Encounters attributed to the microsystem whose period.start is "
                        f"{IN_PERIOD}, {COUNTED}.",
                    ),
                ),
                stratifiers=("encounter-class", "age-band", "gender"),
                prefix="encounters-",
            ),
            GroupDefinition(
                id="patients",
                description="Distinct patients of those encounters.",
                populations=(
                    pop(
                        "initial-population",
                        "Distinct patients of the encounters in the encounters group.",
                    ),
                ),
                prefix="patients-",
            ),
        ),
    )
    cases = (ENCOUNTERS, PATIENTS)


__all__ = ["Volume"]
