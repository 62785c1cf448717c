"""HbA1c poor control: group patients whose latest HbA1c is above 9.0 %."""

from __future__ import annotations

from ._catalog import IN_PERIOD, GroupDefinition, MeasureDefinition, Target, pop
from ._measure import Measure
from .bp_control import GROUP_PATIENTS, READING_STATUS, RESULTS

CASES = f"""
WITH results AS ({RESULTS}),
latest AS (  -- the latest instant; the lowest value there
    SELECT ctx, patient, effective_us, min(value) AS value
    FROM results WHERE kind = 'hba1c' AND value IS NOT NULL AND unit = '%'
    GROUP BY ctx, patient, effective_us
    QUALIFY row_number() OVER (PARTITION BY ctx, patient ORDER BY effective_us DESC) = 1
)
SELECT g.ctx, 0 AS ord, g.patient AS key, g.patient, NULL AS encounter_class,
       TRUE AS "initial-population",
       l.patient IS NOT NULL AS denominator,
       coalesce(l.value > 9.0, FALSE) AS numerator
FROM grp g LEFT JOIN latest l USING (ctx, patient)
"""


class Hba1cPoorControl(Measure):
    definition = MeasureDefinition(
        id="hba1c-poor-control",
        name="HbA1cPoorControl",
        title="HbA1c poor control (> 9.0 %)",
        description=(
            "Share of the microsystem's group patients with an HbA1c result in the period "
            "whose most recent result is above 9.0 %. Lower is better."
        ),
        scoring="proportion",
        improvement="decrease",
        subject="Patient",
        target=Target("<=", 0.2),
        groups=(
            GroupDefinition(
                id="hba1c-poor-control",
                description="Group patients with an HbA1c result; poorly controlled ones.",
                populations=(
                    GROUP_PATIENTS,
                    pop(
                        "denominator",
                        "Initial-population patients with at least one HbA1c Observation (LOINC "
                        f"4548-4, {READING_STATUS}, value in UCUM %) effective {IN_PERIOD}.",
                    ),
                    pop(
                        "numerator",
                        "Denominator patients whose most recent HbA1c value in the period is "
                        "> 9.0 %; when several share the most recent instant, the lowest is "
                        "used. Score: numerator / denominator, 0..1, 4 decimals.",
                    ),
                ),
            ),
        ),
    )
    cases = (CASES,)


__all__ = ["Hba1cPoorControl"]
