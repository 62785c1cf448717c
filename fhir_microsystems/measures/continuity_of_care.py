"""Continuity of care: the mean Bice-Boxerman index of patients seen at least twice."""

from __future__ import annotations

from ._catalog import COUNTED, IN_PERIOD, GroupDefinition, MeasureDefinition, Target, pop
from ._measure import Measure

#: The counted attributed encounters that started in the period.
STARTED = """
SELECT e.* FROM enc e JOIN ctxs c USING (ctx)
WHERE NOT e.void AND e.start_us >= c.start_us AND e.start_us < c.end_us
"""

CASES = f"""
WITH started AS ({STARTED}),
per_practitioner AS (  -- n_j
    SELECT ctx, patient, count(*) AS n FROM started
    WHERE patient IS NOT NULL AND primary_practitioner IS NOT NULL
    GROUP BY ctx, patient, primary_practitioner
),
per_patient AS (  -- N and sum_j n_j^2
    SELECT ctx, patient, sum(n) AS total, sum(n * n) AS squares
    FROM per_practitioner GROUP BY ctx, patient
),
seen AS (SELECT DISTINCT ctx, patient FROM started WHERE patient IS NOT NULL)
SELECT s.ctx, 0 AS ord, s.patient AS key, s.patient, NULL AS encounter_class,
       TRUE AS "initial-population",
       coalesce(p.total >= 2, FALSE) AS "measure-population",
       coalesce(p.total >= 2, FALSE) AS "measure-observation",
       CASE WHEN p.total >= 2
            THEN (p.squares - p.total)::DOUBLE / (p.total * (p.total - 1))::DOUBLE END AS observed
FROM seen s LEFT JOIN per_patient p USING (ctx, patient)
"""


class ContinuityOfCare(Measure):
    definition = MeasureDefinition(
        id="continuity-of-care",
        name="ContinuityOfCare",
        title="Continuity of care (Bice-Boxerman index)",
        description=(
            "Mean Bice-Boxerman continuity-of-care index of the patients seen at least twice "
            "by the microsystem in the period. Higher is better."
        ),
        scoring="continuous-variable",
        improvement="increase",
        subject="Patient",
        aggregate="average",
        unit="1",
        unit_display="index 0..1",
        target=Target(">=", 0.5),
        measure_type="process",
        groups=(
            GroupDefinition(
                id="continuity-of-care",
                description="Per-patient Bice-Boxerman index over the microsystem's members.",
                populations=(
                    pop(
                        "initial-population",
                        "Patients of the encounters attributed to the microsystem whose "
                        f"period.start is {IN_PERIOD}, {COUNTED}.",
                    ),
                    pop(
                        "measure-population",
                        "Initial-population patients with at least 2 such encounters that have "
                        "a primary practitioner: the first practitioner listed on the encounter "
                        "(the ATND/PPRF participant is listed first) who is a member of the "
                        "microsystem. Other encounters are not counted.",
                    ),
                    pop(
                        "measure-observation",
                        "Per measure-population patient: COC = (sum_j n_j^2 - N) / (N (N - 1)), "
                        "N = the patient's counted encounters, n_j = those whose primary "
                        "practitioner is j. Score: the mean of the observations, 0..1, "
                        "4 decimals.",
                    ),
                ),
            ),
        ),
    )
    cases = (CASES,)


__all__ = ["STARTED", "ContinuityOfCare"]
