"""The scoring queries: populations, scores, observations and strata of every measure at once.

The cases of every measure group (see ``_measure.py``) are stacked into one ``cases`` table
(``gid`` numbers the group); a ``groups`` table gives each group's ``kind`` of score.
:data:`STRATA` gives, from ``GROUPING SETS``, one row per context and group for the whole
group and one per stratum, with each population's count and the score; :data:`MEMBERS` the
sorted member keys of the whole groups, their observations, pending and finding keys.

The median is the mean of the two middle values for an even count; the mean an exactly
rounded sum divided by the count; a proportion numerator / (denominator - exclusions), as
``docs/measures.md`` says.
"""

from __future__ import annotations

#: Every population code a group may have, in the order of the query's count columns.
CODES = (
    "initial-population",
    "denominator",
    "denominator-exclusion",
    "numerator",
    "measure-population",
    "measure-population-exclusion",
    "measure-observation",
)

MEDIAN = """
CREATE MACRO middle(l) AS CASE
    WHEN len(l) = 0 THEN NULL
    WHEN len(l) % 2 = 1 THEN l[len(l) // 2 + 1]
    ELSE (l[len(l) // 2] + l[len(l) // 2 + 1]) / 2 END;
"""

#: The value of each stratifier of a case ``s`` (joined to its context ``c``, patient ``p``).
STRATIFIERS = {
    "age-band": "age_band(p.birth_date, c.start_year, c.start_month, c.start_day)",
    "gender": "coalesce(nullif(p.gender, ''), 'unknown')",
    "encounter-class": "coalesce(nullif(s.encounter_class, ''), 'unknown')",
}


def _q(name: str) -> str:
    return f'"{name}"'


_ELIGIBLE = 'coalesce("denominator", FALSE) AND NOT coalesce("denominator-exclusion", FALSE)'
_OBSERVED = 'coalesce("measure-observation", FALSE) AND observed IS NOT NULL'

_SCORE = f"""CASE any_value(kind)
    WHEN 'proportion' THEN CASE WHEN count(*) FILTER (WHERE {_ELIGIBLE}) > 0
        THEN (count(*) FILTER (WHERE {_ELIGIBLE} AND coalesce(numerator, FALSE)))::DOUBLE
             / (count(*) FILTER (WHERE {_ELIGIBLE}))::DOUBLE END
    WHEN 'median' THEN middle(coalesce(list(observed ORDER BY observed)
        FILTER (WHERE {_OBSERVED}), []))
    WHEN 'average' THEN fsum(observed) FILTER (WHERE {_OBSERVED})
        / count(*) FILTER (WHERE {_OBSERVED})
    END"""

_COUNTS = ", ".join(f"count(*) FILTER (WHERE {_q(c)}) AS {_q(c)}" for c in CODES)
_WHICH = " ".join(f"WHEN GROUPING({_q(n)}) = 0 THEN '{n}'" for n in STRATIFIERS)
_VALUES = ", ".join(f"{sql} AS {_q(n)}" for n, sql in STRATIFIERS.items())

#: ctx, gid, stratifier (NULL for the whole group), stratum, score, one count per code.
STRATA = f"""
WITH s AS (
    SELECT s.*, g.kind, {_VALUES}
    FROM cases s JOIN groups g USING (gid) JOIN ctxs c USING (ctx)
    LEFT JOIN pat p ON p.key = s.patient
)
SELECT ctx, gid, CASE {_WHICH} END AS stratifier,
       coalesce({", ".join(_q(n) for n in STRATIFIERS)}) AS stratum,
       {_SCORE} AS score, {_COUNTS}
FROM s
GROUP BY GROUPING SETS ((ctx, gid), {", ".join(f"(ctx, gid, {_q(n)})" for n in STRATIFIERS)})
"""

_LISTS = ", ".join(
    f"coalesce(list(key ORDER BY key) FILTER (WHERE {_q(c)}), []) AS {_q(c)}" for c in CODES
)
_NO_LISTS = ", ".join(f"[]::VARCHAR[] AS {_q(c)}" for c in CODES)
_MEMBERS = """
SELECT ctx, gid, {lists},
       coalesce(list((key, observed) ORDER BY key) FILTER (WHERE {observed}), []),
       coalesce(list(key ORDER BY key) FILTER (WHERE pending), []),
       coalesce(list(key ORDER BY ord) FILTER (WHERE finding), [])
FROM cases GROUP BY ctx, gid
"""
#: ctx, gid, one sorted member list per code, (key, value) observations, pending keys and
#: the keys to record a finding for (in context order).
MEMBERS = _MEMBERS.format(lists=_LISTS, observed=_OBSERVED)
#: :data:`MEMBERS` with every member list empty (when only the counts are wanted).
NO_MEMBERS = _MEMBERS.format(lists=_NO_LISTS, observed=_OBSERVED)

#: The columns every stacked cases query has (absent ones are NULL).
COLUMNS = ("observed DOUBLE", "pending BOOLEAN", "finding BOOLEAN", "encounter_class VARCHAR")


def stacked(cases: list[str], codes: tuple[str, ...] = CODES) -> str:
    """``CREATE TABLE cases`` from ``cases`` (the ``gid``-th query is group ``gid``)."""
    empty = ", ".join(
        [
            "NULL::INTEGER AS ctx",
            "NULL::INTEGER AS ord",
            "NULL::VARCHAR AS key",
            "NULL::VARCHAR AS patient",
            *(f"NULL::{c.split()[1]} AS {c.split()[0]}" for c in COLUMNS),
            *(f"NULL::BOOLEAN AS {_q(c)}" for c in codes),
        ]
    )
    parts = [f"SELECT NULL::INTEGER AS gid, {empty} WHERE FALSE"]
    parts += [f"SELECT {gid} AS gid, * FROM ({sql})" for gid, sql in enumerate(cases)]
    return "CREATE OR REPLACE TABLE cases AS " + "\nUNION ALL BY NAME\n".join(parts)


__all__ = [
    "CODES",
    "COLUMNS",
    "MEDIAN",
    "MEMBERS",
    "NO_MEMBERS",
    "STRATA",
    "STRATIFIERS",
    "stacked",
]
