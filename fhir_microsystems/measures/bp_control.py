"""Blood pressure control: group patients whose latest reading is below 140/90 mmHg."""

from __future__ import annotations

from ._catalog import IN_PERIOD, GroupDefinition, MeasureDefinition, Target, pop
from ._measure import Measure

READING_STATUS = "status final, amended or corrected"

BP_READING = (
    "A blood pressure reading is a systolic (LOINC 8480-6) and a diastolic (LOINC 8462-4) "
    f"value in mm[Hg] ({READING_STATUS}) with the same effective instant of the same "
    "patient: the components of a blood pressure panel (LOINC 85354-9) or standalone systolic "
    "and diastolic Observations."
)

GROUP_PATIENTS = pop("initial-population", "Patients of the microsystem's patient Group.")

#: The group's final results effective in the period (one row per context and result).
RESULTS = """
SELECT g.ctx, o.*
FROM grp g JOIN ctxs c USING (ctx) JOIN obs o ON o.patient = g.patient
WHERE o.effective_us >= c.start_us AND o.effective_us < c.end_us
  AND o.status IN ('final', 'amended', 'corrected')
"""

CASES = f"""
WITH results AS ({RESULTS}),
readings AS (  -- an instant with a systolic and a diastolic value; the lowest of each
    SELECT ctx, patient, effective_us, min(systolic) AS sbp, min(diastolic) AS dbp
    FROM results WHERE kind IN ('bp-panel', 'systolic', 'diastolic')
    GROUP BY ctx, patient, effective_us
    HAVING sbp IS NOT NULL AND dbp IS NOT NULL
),
latest AS (
    SELECT * FROM readings
    QUALIFY row_number() OVER (PARTITION BY ctx, patient ORDER BY effective_us DESC) = 1
)
SELECT g.ctx, 0 AS ord, g.patient AS key, g.patient, NULL AS encounter_class,
       TRUE AS "initial-population",
       l.patient IS NOT NULL AS denominator,
       coalesce(l.sbp < 140 AND l.dbp < 90, FALSE) AS numerator
FROM grp g LEFT JOIN latest l USING (ctx, patient)
"""


class BpControl(Measure):
    definition = MeasureDefinition(
        id="bp-control",
        name="BloodPressureControl",
        title="Blood pressure control (<140/90 mmHg)",
        description=(
            "Share of the microsystem's group patients with a blood pressure reading in the "
            "period whose most recent reading is below 140/90 mmHg. Higher is better."
        ),
        scoring="proportion",
        improvement="increase",
        subject="Patient",
        target=Target(">=", 0.7),
        groups=(
            GroupDefinition(
                id="bp-control",
                description="Group patients with a blood pressure reading; controlled ones.",
                populations=(
                    GROUP_PATIENTS,
                    pop(
                        "denominator",
                        "Initial-population patients with at least one blood pressure reading "
                        f"effective {IN_PERIOD}. {BP_READING}",
                    ),
                    pop(
                        "numerator",
                        "Denominator patients whose most recent reading in the period has "
                        "systolic < 140 and diastolic < 90 mm[Hg]; when several readings share "
                        "the most recent instant, the lowest systolic and the lowest diastolic "
                        "value are used. Score: numerator / denominator, 0..1, 4 decimals.",
                    ),
                ),
            ),
        ),
    )
    cases = (CASES,)


__all__ = ["GROUP_PATIENTS", "READING_STATUS", "RESULTS", "BpControl"]
