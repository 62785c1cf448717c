-- Encounters projected to their records (the columns of ``ENCOUNTER_SCHEMA``), from a table
-- ``{lines}(lineno BIGINT, line)`` of NDJSON lines (BLOB or VARCHAR).
--
-- The rules are those of ``derive/records.py``'s ``encounter_record``. This SQL reads the
-- encounters that have nothing to report: those it does not read whole (``fast`` false) go
-- to ``encounter_record`` itself, which records their findings, so an encounter's record and
-- findings do not depend on which of the two read it. References are resolved, datetimes of
-- uncommon forms parsed, and contexts and patients' facts looked up, in Python over the
-- batch's distinct values: the tables ``enc_refs(role, ref, key, clean)`` (``clean``:
-- resolving it records no finding), ``enc_times(raw, upper, moment)``,
-- ``enc_contexts(service_provider, location, context)`` and ``enc_patients(patient, found,
-- gender, birth_date, deceased, deceased_at)`` hold one batch's values.

-- @step values
-- (a SELECT over ``{lines}``, ``{text}`` the text of a ``line``. ``screened``: the line
-- is an Encounter that the source's own check, ``resource_problem``, passes, or
-- ``{trusted}``: resources already checked (a search result). Values a Python ``.get``
-- would find of another type read as NULL here, as they do there: a ``period`` that is not
-- an object has no start, a ``coding`` entry that is not an object has no code.)
WITH src AS (
    SELECT lineno, {text} AS line FROM {lines}  -- NULL: not UTF-8
), r AS (
    SELECT lineno, line, try(from_json(line, '{
        "resourceType": "JSON", "id": "JSON", "status": "JSON", "class": "JSON",
        "period": {"start": "JSON", "end": "JSON"},
        "participant": [{"individual": "JSON"}], "location": [{"location": "JSON"}],
        "serviceProvider": "JSON", "subject": "JSON",
        "hospitalization": {"dischargeDisposition": {"coding": [{"code": "JSON"}]}}}')) AS r
    FROM src
)
SELECT
    lineno,
    coalesce(r IS NOT NULL AND ({trusted} OR (strict_json(line)
        AND json_extract_string(r.resourceType, '$') = 'Encounter' AND fhir_id(r.id)
        AND NOT no_value(r.status) AND NOT no_value(r.class))), false) AS screened,
    'Encounter/' || json_extract_string(r.id, '$') AS key,
    CASE WHEN jt(r.status) = 'VARCHAR' THEN json_extract_string(r.status, '$') END AS status,
    CASE WHEN jt(json_extract(r.class, '$.code')) = 'VARCHAR'
         THEN json_extract_string(r.class, '$.code') END AS class_code,
    r.period.start AS raw_start, r.period."end" AS raw_end,
    fast_time(r.period.start) AS quick_start, fast_time(r.period."end") AS quick_end,
    -- a list, or absent (a value of another type reads as NULL: only a line that does not
    -- name the element at all is sure not to have one)
    r.participant AS parts,
    r.participant IS NOT NULL OR NOT contains(line, '"participant"') AS parts_listed,
    r.location IS NOT NULL OR NOT contains(line, '"location"') AS locations_listed,
    list_filter(r.location, lambda e: e.location IS NOT NULL)[1].location AS location_ref,
    r.serviceProvider AS provider_ref,
    r.subject AS subject_ref,
    json_extract_string(list_filter(r.hospitalization.dischargeDisposition.coding,
        lambda c: jt(c.code) = 'VARCHAR')[1].code, '$') AS discharge_disposition
FROM r

-- @step references
-- (the screened encounters' references)
WITH wanted AS (
    SELECT 'clinician' AS role, unnest(parts).individual AS ref FROM enc_values WHERE screened
    UNION
    SELECT 'organization', provider_ref FROM enc_values WHERE screened
    UNION
    SELECT 'location', location_ref FROM enc_values WHERE screened
    UNION
    SELECT 'patient', subject_ref FROM enc_values WHERE screened
)
SELECT role, ref FROM wanted WHERE ref IS NOT NULL;

-- @step times
SELECT DISTINCT raw_start AS raw, false AS upper FROM enc_values
WHERE screened AND raw_start IS NOT NULL AND quick_start IS NULL
UNION
SELECT DISTINCT raw_end, true FROM enc_values
WHERE screened AND raw_end IS NOT NULL AND quick_end IS NULL;

-- @step resolved
-- ``fast``: read whole here, with nothing to report (a start, an end that is absent or a
-- dateTime, participants as a list within the limit, each reference present or absent as
-- the record allows and resolved without a finding).
CREATE OR REPLACE TEMP TABLE enc_resolved AS
WITH clinicians AS (
    SELECT u.lineno, u.n, c.key, c.clean
    FROM (SELECT lineno, unnest(parts).individual AS ref, generate_subscripts(parts, 1) AS n
          FROM enc_values WHERE screened) u
    JOIN enc_refs c ON c.role = 'clinician' AND c.ref = u.ref  -- (an absent one: skipped)
), people AS (
    SELECT lineno, list(key ORDER BY n) FILTER (WHERE key IS NOT NULL) AS named,
        bool_and(clean) AS clean
    FROM clinicians GROUP BY lineno
)
SELECT v.lineno, v.key, v.class_code, v.status, v.discharge_disposition,
    coalesce(v.quick_start, s.moment) AS start,
    CASE WHEN v.raw_end IS NOT NULL THEN coalesce(v.quick_end, e.moment) END AS "end",
    -- each Practitioner once, where it is first named
    coalesce(list_filter(p.named, lambda k, i: list_position(p.named, k) = i), [])
        AS participants,
    o.key AS service_provider, l.key AS location, pt.key AS patient,
    coalesce(v.screened AND v.key IS NOT NULL AND v.status <> ''
    AND coalesce(v.quick_start, s.moment) IS NOT NULL
    AND (v.raw_end IS NULL OR coalesce(v.quick_end, e.moment) IS NOT NULL)
    AND v.parts_listed AND v.locations_listed
    AND coalesce(len(v.parts), 0) <= {max_participants}
    AND coalesce(p.clean, true)
    AND (v.provider_ref IS NULL OR coalesce(o.clean, false))
    AND (v.location_ref IS NULL OR coalesce(l.clean, false))
    AND pt.clean, false) AS fast  -- (NULL anywhere: not fast)
FROM enc_values v
LEFT JOIN people p USING (lineno)
LEFT JOIN enc_times s ON s.raw = v.raw_start AND NOT s.upper
LEFT JOIN enc_times e ON e.raw = v.raw_end AND e.upper
LEFT JOIN enc_refs o ON o.role = 'organization' AND o.ref = v.provider_ref
LEFT JOIN enc_refs l ON l.role = 'location' AND l.ref = v.location_ref
LEFT JOIN enc_refs pt ON pt.role = 'patient' AND pt.ref = v.subject_ref;

-- @step contexts
-- (the fast records' serviceProvider and Location pairs)
SELECT DISTINCT service_provider, location FROM enc_resolved WHERE fast;

-- @step patients
SELECT DISTINCT patient FROM enc_resolved WHERE fast;

-- @step records
SELECT r.lineno, r.key, r.patient, r.class_code, r.status,
    r.start, r."end",
    r.participants, 0 AS unresolved_participants,
    r.service_provider, r.location, c.context, r.discharge_disposition,
    strftime(r.start, '%Y-%m') AS month,
    coalesce(p.found, false) AS patient_found,
    p.gender, p.birth_date, p.deceased, p.deceased_at
FROM enc_resolved r
LEFT JOIN enc_contexts c ON c.service_provider IS NOT DISTINCT FROM r.service_provider
    AND c.location IS NOT DISTINCT FROM r.location
LEFT JOIN enc_patients p ON p.patient = r.patient
WHERE r.fast
ORDER BY r.lineno;
