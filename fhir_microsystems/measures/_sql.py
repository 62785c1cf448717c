"""The one scoring query: populations, score, observations and strata of a cases query.

Every measure's cases (see ``_measure.py``) go through :func:`scoring_sql`: one row per
context for the whole group and one per stratum, from ``GROUPING SETS``. The median is the
mean of the two middle values for an even count, the mean an exactly rounded sum divided by
the count, a proportion numerator / (denominator - exclusions), as ``docs/measures.md`` says.
"""

from __future__ import annotations

from ._catalog import GroupDefinition, MeasureDefinition

#: The SQL value of each stratifier of a case ``s`` (joined to its context ``c`` and patient ``p``).
STRATIFIERS = {
    "age-band": "age_band(p.birth_date, c.start_year, c.start_month, c.start_day)",
    "gender": "coalesce(nullif(p.gender, ''), 'unknown')",
    "encounter-class": "coalesce(nullif(s.encounter_class, ''), 'unknown')",
}

MEDIAN = """
CREATE MACRO middle(l) AS CASE
    WHEN len(l) = 0 THEN NULL
    WHEN len(l) % 2 = 1 THEN l[len(l) // 2 + 1]
    ELSE (l[len(l) // 2] + l[len(l) // 2 + 1]) / 2 END;
"""


def _q(code: str) -> str:
    return f'"{code}"'


def _score(definition: MeasureDefinition, group: GroupDefinition) -> str:
    if definition.scoring == "proportion":
        eligible = '"denominator"'
        if "denominator-exclusion" in group.codes:
            eligible += ' AND NOT "denominator-exclusion"'
        return (
            f"CASE WHEN count(*) FILTER (WHERE {eligible}) > 0 THEN "
            f"(count(*) FILTER (WHERE {eligible} AND numerator))::DOUBLE"
            f" / (count(*) FILTER (WHERE {eligible}))::DOUBLE END"
        )
    if definition.scoring == "continuous-variable":
        observed = '"measure-observation" AND observed IS NOT NULL'
        if definition.aggregate == "median":
            return (
                f"middle(coalesce(list(observed ORDER BY observed) FILTER (WHERE {observed}), []))"
            )
        return f"fsum(observed) FILTER (WHERE {observed}) / count(*) FILTER (WHERE {observed})"
    return "NULL::DOUBLE"


def scoring_sql(
    definition: MeasureDefinition,
    group: GroupDefinition,
    cases: str,
    *,
    pending: bool,
    finding: bool,
) -> str:
    """The query over ``cases``: columns ctx, stratifier (NULL for the whole group),
    stratum, score, one member list per population code (sorted keys), observations
    (key, value) pairs, pending keys and the keys to record a finding for (in ``ord`` order)."""
    strata = {name: STRATIFIERS[name] for name in group.stratifiers}
    members = ", ".join(
        f"coalesce(list(key ORDER BY key) FILTER (WHERE {_q(code)}), []) AS {_q(code)}"
        for code in group.codes
    )
    continuous = definition.scoring == "continuous-variable"
    observations = (
        "coalesce(list((key, observed) ORDER BY key) FILTER "
        '(WHERE "measure-observation" AND observed IS NOT NULL), [])'
        if continuous
        else "[]"
    )
    pending_keys = (
        "coalesce(list(key ORDER BY key) FILTER (WHERE pending), [])" if pending else "[]"
    )
    finding_keys = (
        "coalesce(list(key ORDER BY ord) FILTER (WHERE finding), [])" if finding else "[]"
    )
    which = " ".join(f"WHEN GROUPING({_q(n)}) = 0 THEN '{n}'" for n in strata)
    stratum = f"coalesce({', '.join(_q(n) for n in strata)})" if strata else "NULL"
    sets = ", ".join(["(ctx)", *(f"(ctx, {_q(n)})" for n in strata)])
    values = "".join(f", {sql} AS {_q(n)}" for n, sql in strata.items())
    return f"""
WITH cases AS ({cases}),
s AS (
    SELECT s.*{values}
    FROM cases s JOIN ctxs c USING (ctx) LEFT JOIN pat p ON p.key = s.patient
)
SELECT ctx, CASE {which or "WHEN FALSE THEN ''"} END AS stratifier, {stratum} AS stratum,
       {_score(definition, group)} AS score, {members},
       {observations} AS observations, {pending_keys} AS pending, {finding_keys} AS finding
FROM s
GROUP BY GROUPING SETS ({sets})
"""


__all__ = ["MEDIAN", "STRATIFIERS", "scoring_sql"]
