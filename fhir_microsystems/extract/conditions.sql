-- Conditions screened for the cohorts, from a table ``{lines}(lineno BIGINT, line)`` of NDJSON
-- lines (BLOB or VARCHAR).
--
-- A Condition coded in no cohort gives no spell and no finding (``condition_spells`` returns
-- before it looks at anything else), so only the lines in a cohort, and those this SQL does
-- not screen in, are read in Python. A ``code`` is looked up in the cohorts' ValueSets in
-- Python over its distinct values (table ``cond_codes``).

-- @step tables
CREATE OR REPLACE TEMP TABLE cond_codes (code VARCHAR, in_cohort BOOLEAN);

-- @step values
-- (a SELECT over ``{lines}``, ``{text}`` the text of a ``line``. ``screened``: the line
-- is a Condition that the source's own check, ``resource_problem``, passes, or
-- ``{trusted}``: resources already checked (a search result).)
WITH src AS (
    SELECT lineno, {text} AS line FROM {lines}  -- NULL: not UTF-8
), r AS (
    SELECT lineno, line, try(from_json(line, '{
        "resourceType": "JSON", "id": "JSON", "subject": "JSON", "code": "JSON"}')) AS r
    FROM src
)
SELECT
    lineno,
    coalesce(r IS NOT NULL AND ({trusted} OR (strict_json(line)
        AND json_extract_string(r.resourceType, '$') = 'Condition' AND fhir_id(r.id)
        AND NOT no_value(r.subject))), false) AS screened,
    r.code AS code
FROM r

-- @step codes
-- (the screened lines' codes not looked up yet)
SELECT DISTINCT code FROM cond_values ANTI JOIN cond_codes USING (code)
WHERE screened AND code IS NOT NULL;

-- @step wanted
-- (the lines read in Python: those in a cohort and those not screened in, in line order)
SELECT lineno, screened FROM cond_values LEFT JOIN cond_codes USING (code)
WHERE NOT screened OR coalesce(in_cohort, false)
ORDER BY lineno;
