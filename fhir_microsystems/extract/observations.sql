-- Observations projected to what the measures need: one row per usable Observation and one
-- row per finding, from a table ``{lines}(lineno BIGINT, line)`` of NDJSON lines (BLOB or VARCHAR).
--
-- The rules (and the findings, in this order per resource) are those of
-- ``fhir_microsystems/extract/observations.py``'s docstring. Values whose JSON type matters
-- are read as JSON and typed here, so a value of the wrong type is a finding, never a cast
-- error; codes, systems and the strings of a quantity are read as text.
-- Subjects are resolved, and datetimes of uncommon forms parsed, in Python over their
-- distinct values (tables ``obs_subjects`` and ``obs_times``, filled between the steps).

-- @step macros
-- (after the JSON macros of ``json.sql``)
-- The codings of a CodeableConcept (a STRUCT of the projection) that have a code. A
-- non-object where an object is expected reads as one without fields, as Python's ``.get``
-- on a non-dict element is skipped: neither has a code. Codes, systems and the strings of a
-- quantity are read as text (a non-string value as its JSON text).
CREATE OR REPLACE MACRO codings(concept) AS
    list_filter(coalesce(concept.coding, []), lambda c: coalesce(c.code, '') <> '');
CREATE OR REPLACE MACRO system_of(c) AS coalesce(c.system, '');
CREATE OR REPLACE MACRO is_survey(category) AS len(list_filter(coalesce(category, []),
    lambda concept: len(list_filter(codings(concept), lambda c: c.code = 'survey'
        AND system_of(c) IN ('http://terminology.hl7.org/CodeSystem/observation-category', '')))
    > 0)) > 0;
-- The first panel component coded ``code`` in LOINC.
CREATE OR REPLACE MACRO component_with(component, code) AS list_filter(coalesce(component, []),
    lambda p: len(list_filter(codings(p.code),
        lambda c: c.code = code AND system_of(c) = 'http://loinc.org')) > 0)[1];
-- A ``valueQuantity`` (a STRUCT of JSON values) as typed fields, each JSON value read once.
CREATE OR REPLACE MACRO typed_quantity(q) AS {
    'value': num(q.value), 'comparator': coalesce(q.comparator, '') <> '',
    'code': nullif(q.code, ''), 'unit': nullif(q.unit, ''),
    'system_ok': q.system IS NULL OR q.system = 'http://unitsofmeasure.org'};
-- A value read from a typed quantity ``t`` (or the number ``vi`` of ``valueInteger`` when
-- no unit is expected): v(alue), u(nit) and the finding (kind, field, message) when it is
-- unusable.
CREATE OR REPLACE MACRO quantity(present, t, vi, field, expected, texts) AS CASE
    WHEN NOT present
        THEN {'v': NULL::DOUBLE, 'u': NULL::VARCHAR, 'fk': 'missing-value', 'ff': field,
              'fm': 'absent'}
    WHEN expected IS NULL AND vi IS NOT NULL
        THEN {'v': vi, 'u': NULL::VARCHAR, 'fk': NULL::VARCHAR, 'ff': NULL::VARCHAR,
              'fm': NULL::VARCHAR}
    WHEN t.value IS NULL
        THEN {'v': NULL::DOUBLE, 'u': NULL::VARCHAR, 'fk': 'missing-value',
              'ff': field || '.valueQuantity.value', 'fm': 'absent or not a number'}
    WHEN t.comparator
        THEN {'v': NULL::DOUBLE, 'u': NULL::VARCHAR, 'fk': 'inexact-value',
              'ff': field || '.valueQuantity.comparator', 'fm': 'value with comparator'}
    WHEN expected IS NOT NULL AND NOT coalesce(CASE WHEN t.code IS NOT NULL
            THEN t.code = expected AND t.system_ok
            ELSE list_contains(texts, t.unit) END, false)
        THEN {'v': NULL::DOUBLE, 'u': coalesce(t.code, t.unit), 'fk': 'unexpected-unit',
              'ff': field || '.valueQuantity', 'fm': 'expected ' || expected}
    ELSE {'v': t.value, 'u': coalesce(expected, t.code, t.unit),
          'fk': NULL::VARCHAR, 'ff': NULL::VARCHAR, 'fm': NULL::VARCHAR}
    END;
CREATE OR REPLACE TEMP TABLE obs_subjects (subject VARCHAR, patient VARCHAR);
CREATE OR REPLACE TEMP TABLE obs_times (raw_time VARCHAR, effective TIMESTAMP);

-- @step values
-- (a SELECT over ``{lines}``, ``{text}`` the text of a ``line``. ``screened``: the line
-- is an Observation that the source's own check, ``resource_problem``, passes, or
-- ``{trusted}``: resources already checked (a search result, a line that check passed).
-- The other lines (invalid JSON among them) are checked in Python, and those it passes are
-- read again as trusted.)
WITH src AS (
    SELECT lineno, {text} AS line FROM {lines}  -- NULL: not UTF-8
), r AS (
    SELECT lineno, line, try(from_json(line, '{
        "resourceType": "JSON", "id": "JSON", "status": "JSON", "subject": "JSON",
        "code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]},
        "effectiveDateTime": "JSON", "effectiveInstant": "JSON",
        "effectivePeriod": {"start": "JSON"},
        "valueQuantity": {"value": "JSON", "comparator": "VARCHAR", "code": "VARCHAR",
                          "unit": "VARCHAR", "system": "VARCHAR"},
        "valueInteger": "JSON",
        "component": [{"code": {"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]},
                       "valueQuantity": {"value": "JSON", "comparator": "VARCHAR",
                                         "code": "VARCHAR", "unit": "VARCHAR",
                                         "system": "VARCHAR"}}],
        "category": [{"coding": [{"system": "VARCHAR", "code": "VARCHAR"}]}]}')) AS r
    FROM src
), base AS (
    SELECT
        lineno, line,
        {trusted} OR coalesce(r IS NOT NULL
            AND strict_json(line) AND json_extract_string(r.resourceType, '$') = 'Observation'
            AND fhir_id(r.id)
            AND NOT no_value(r.status) AND len(r.code.coding) > 0, false)
            AS screened,
        'Observation/' || coalesce(CASE WHEN truthy(r.id) THEN pystr(r.id) END, '?') AS key,
        CASE WHEN truthy(r.status) THEN pystr(r.status) ELSE 'unknown' END AS status,
        r.subject AS subject,
        CASE WHEN truthy(r.effectiveDateTime) THEN r.effectiveDateTime
             ELSE r.effectiveInstant END AS instant,
        r.effectivePeriod AS effective_period,
        codings(r.code) AS codes,
        r.valueQuantity AS vq, r.valueInteger AS vi, r.component AS component,
        r.category AS category
    FROM r  -- (no WHERE on ``r``: a filter would parse every line twice)
), timed AS (
    SELECT * EXCLUDE (instant, effective_period),
        CASE WHEN instant IS NULL AND effective_period IS NOT NULL
             THEN effective_period.start ELSE instant END AS raw_time,
        CASE WHEN instant IS NULL AND effective_period IS NOT NULL
             THEN 'Observation.effectivePeriod.start'
             ELSE 'Observation.effectiveDateTime' END AS time_field
    FROM base
), coded AS (
    SELECT *,
        len(codes) > 0 AS has_code,
        len(list_filter(codes, lambda c: system_of(c) IN ('http://loinc.org',
            'http://snomed.info/sct'))) > 0 AS is_coded,
        list_min(list_transform(
            list_filter(codes, lambda c: system_of(c) = 'http://loinc.org'
                AND c.code IN ('85354-9', '8480-6', '8462-4', '4548-4', '72514-3')),
            lambda c: c.code)) AS known
    FROM timed
), kinds AS (
    SELECT *,
        CASE known WHEN '85354-9' THEN 'bp-panel' WHEN '8480-6' THEN 'systolic'
            WHEN '8462-4' THEN 'diastolic' WHEN '4548-4' THEN 'hba1c' WHEN '72514-3' THEN 'pain'
            ELSE 'other' END AS kind0
    FROM coded
), surveys AS (
    SELECT *, kind0 = 'other' AND is_survey(category) AS survey FROM kinds
), projected AS (
    SELECT * EXCLUDE (codes, kind0),
        CASE WHEN screened AND survey AND num(CASE WHEN vi IS NOT NULL THEN vi
                                      WHEN json_exists(line, '$.valueInteger') THEN NULL
                                      ELSE vq.value END) IS NOT NULL
             THEN 'experience' ELSE kind0 END AS kind
    FROM surveys
), panel AS (
    SELECT *,
        CASE WHEN kind = 'bp-panel' THEN component_with(component, '8480-6') END AS sys_part,
        CASE WHEN kind = 'bp-panel' THEN component_with(component, '8462-4') END AS dia_part
    FROM projected
), typed AS (
    SELECT *,
        CASE WHEN kind <> 'bp-panel' AND kind <> 'other' THEN typed_quantity(vq) END AS tq,
        CASE WHEN sys_part IS NOT NULL THEN typed_quantity(sys_part.valueQuantity) END AS tsys,
        CASE WHEN dia_part IS NOT NULL THEN typed_quantity(dia_part.valueQuantity) END AS tdia,
        CASE WHEN kind = 'pain' OR kind = 'experience' THEN num(vi) END AS vnum
    FROM panel
), measured AS (
    SELECT *,
        CASE kind
            WHEN 'bp-panel' THEN quantity(sys_part IS NOT NULL, tsys, NULL,
                'Observation.component[8480-6]', 'mm[Hg]', ['mm[Hg]', 'mmHg'])
            WHEN 'systolic' THEN quantity(true, tq, NULL, 'Observation', 'mm[Hg]', ['mm[Hg]', 'mmHg'])
            WHEN 'hba1c' THEN quantity(true, tq, NULL, 'Observation', '%', ['%'])
            WHEN 'pain' THEN quantity(true, tq, vnum, 'Observation', NULL, [])
            WHEN 'experience' THEN quantity(true, tq, vnum, 'Observation', NULL, [])
        END AS q1,
        CASE kind
            WHEN 'bp-panel' THEN quantity(dia_part IS NOT NULL, tdia, NULL,
                'Observation.component[8462-4]', 'mm[Hg]', ['mm[Hg]', 'mmHg'])
            WHEN 'diastolic' THEN quantity(true, tq, NULL, 'Observation', 'mm[Hg]', ['mm[Hg]', 'mmHg'])
        END AS q2
    FROM typed
)
SELECT lineno, screened, key, status, status IN ('entered-in-error', 'cancelled') AS ignored,
    subject, raw_time, fast_time(raw_time) AS quick_time, time_field, kind, has_code, is_coded,
    CASE WHEN kind IN ('bp-panel', 'systolic') THEN q1.v END AS systolic,
    CASE WHEN kind = 'bp-panel' THEN q2.v WHEN kind = 'diastolic' THEN q2.v END AS diastolic,
    CASE WHEN kind IN ('hba1c', 'pain', 'experience') THEN q1.v END AS value,
    CASE WHEN kind IN ('hba1c', 'pain', 'experience') THEN q1.u END AS unit,
    q1, q2,
    has_code AND q1.fk IS NULL AND q2.fk IS NULL AND CASE
        WHEN NOT screened THEN false  -- (its line may not be JSON: checked in Python)
        WHEN kind <> 'other' OR survey THEN true
        WHEN len(component) > 0 OR vq IS NOT NULL OR vi IS NOT NULL THEN true
        -- a ``value[x]`` of another type, or a component that is not a list
        ELSE truthy(json_extract(line, '$.component'))
            OR len(list_filter(json_keys(line), lambda k: starts_with(k, 'value'))) > 0
        END AS ok
FROM measured

-- @step subjects
SELECT DISTINCT subject FROM obs_values
WHERE subject IS NOT NULL AND NOT ignored
  AND subject NOT IN (SELECT subject FROM obs_subjects);

-- @step times
-- (``obs_times`` holds one batch's: it is emptied after each)
SELECT DISTINCT raw_time FROM obs_values v JOIN obs_subjects s USING (subject)
WHERE s.patient IS NOT NULL AND NOT v.ignored
  AND v.raw_time IS NOT NULL AND v.quick_time IS NULL;

-- @step resolved
CREATE OR REPLACE TEMP TABLE obs_resolved AS
SELECT v.*, s.patient,
    coalesce(v.quick_time, t.effective) AS effective,
    v.raw_time IS NOT NULL AND v.quick_time IS NULL AND t.effective IS NULL AS bad_time
FROM obs_values v
LEFT JOIN obs_subjects s USING (subject)
LEFT JOIN obs_times t ON t.raw_time = v.raw_time;

-- @step facts
SELECT key, patient, kind, status, effective, systolic, diastolic, value, unit,
    is_coded AS coded, ok AS complete, strftime(effective, '%Y-%m') AS month
FROM obs_resolved
WHERE NOT ignored AND subject IS NOT NULL AND patient IS NOT NULL AND effective IS NOT NULL
ORDER BY lineno;

-- @step findings
WITH usable AS (
    SELECT * FROM obs_resolved
    WHERE NOT ignored AND subject IS NOT NULL AND patient IS NOT NULL
)
SELECT lineno, seq, kind, "where", field, message FROM (
    SELECT lineno, 1 AS seq, 'ignored-status' AS kind, key AS "where",
        'Observation.status' AS field, status AS message
    FROM obs_resolved WHERE ignored
    UNION ALL
    SELECT lineno, 2, 'missing-field', key, 'Observation.subject', 'absent'
    FROM obs_resolved WHERE NOT ignored AND subject IS NULL
    UNION ALL
    SELECT lineno, 3, 'unresolved-reference', key, 'Observation.subject', 'not a Patient'
    FROM obs_resolved WHERE NOT ignored AND subject IS NOT NULL AND patient IS NULL
    UNION ALL
    SELECT lineno, 4, 'missing-field', key, 'Observation.effective[x]', 'absent'
    FROM usable WHERE raw_time IS NULL
    UNION ALL
    SELECT lineno, 4, 'invalid-datetime', key, time_field, 'not a FHIR dateTime'
    FROM usable WHERE bad_time
    UNION ALL
    SELECT lineno, 5, 'missing-code', key, 'Observation.code.coding', 'no code'
    FROM usable WHERE NOT has_code
    UNION ALL
    SELECT lineno, 6, q1.fk, key, q1.ff, q1.fm FROM usable WHERE q1.fk IS NOT NULL
    UNION ALL
    SELECT lineno, 7, q2.fk, key, q2.ff, q2.fm FROM usable WHERE q2.fk IS NOT NULL
)
ORDER BY lineno, seq;
