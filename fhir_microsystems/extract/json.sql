-- Macros shared by the extract projections: JSON values of a ``from_json`` projection read
-- as Python reads the parsed dict, and the common form of a FHIR dateTime.

-- @step macros
-- JSON values read as Python reads the parsed dict: ``jt`` the JSON type ('NULL' when absent),
-- ``truthy`` Python truthiness, ``pystr`` ``str()``, ``num`` a number that is not a boolean.
CREATE OR REPLACE MACRO jt(j) AS coalesce(json_type(j), 'NULL');
CREATE OR REPLACE MACRO truthy(j) AS CASE jt(j)
    WHEN 'NULL' THEN false
    WHEN 'VARCHAR' THEN j::VARCHAR <> '""'
    WHEN 'BOOLEAN' THEN j::VARCHAR = 'true'
    WHEN 'ARRAY' THEN j::VARCHAR <> '[]'
    WHEN 'OBJECT' THEN j::VARCHAR <> '{}'
    ELSE j::DOUBLE <> 0 END;
CREATE OR REPLACE MACRO no_value(j) AS jt(j) = 'NULL' OR j::VARCHAR IN ('""', '[]', '{}');
CREATE OR REPLACE MACRO pystr(j) AS CASE jt(j)
    WHEN 'VARCHAR' THEN json_extract_string(j, '$')
    WHEN 'BOOLEAN' THEN CASE WHEN j::VARCHAR = 'true' THEN 'True' ELSE 'False' END
    WHEN 'NULL' THEN 'None'
    ELSE j::VARCHAR END;
CREATE OR REPLACE MACRO num(j) AS CASE WHEN jt(j) IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'HUGEINT')
    AND isfinite(j::DOUBLE) THEN j::DOUBLE END;
-- A dateTime (as a UTC TIMESTAMP) of the common full form with an offset (years 0003-9996,
-- inside the clamp of ``periods.EARLIEST``/``LATEST``), read here; other forms are read in
-- Python (``parse_fhir_datetime``) over their distinct values.
CREATE OR REPLACE MACRO fast_time(raw) AS CASE WHEN jt(raw) = 'VARCHAR' AND regexp_full_match(
        json_extract_string(raw, '$'),
        '(0{3}[3-9]|0{2}[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-6])'
        || '-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3])'
        || ':[0-5][0-9]:[0-5][0-9](Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])')
    THEN try_cast(json_extract_string(raw, '$') AS TIMESTAMPTZ)::TIMESTAMP END;
-- A JSON string of FHIR id syntax that is not only dots (``_fhir_id.is_fhir_id``).
CREATE OR REPLACE MACRO fhir_id(j) AS jt(j) = 'VARCHAR'
    AND regexp_full_match(json_extract_string(j, '$'), '[A-Za-z0-9\-.]{1,64}')
    AND NOT regexp_full_match(json_extract_string(j, '$'), '\.+');
-- Whether a line DuckDB parsed is JSON to a strict reader too (orjson, the source's check):
-- DuckDB also reads NaN, Infinity and trailing commas. A line with any of them (or only
-- seeming to have one, inside a string) is checked in Python like the rest, which is exact.
-- Literal searches, not a regular expression (a fifth of the cost): a trailing comma is
-- looked for with no space or one before the bracket, as JSON writers put them.
CREATE OR REPLACE MACRO strict_json(line) AS NOT (contains(line, 'NaN')
    OR contains(line, 'Infinity') OR contains(line, ',}') OR contains(line, ',]')
    OR contains(line, ', }') OR contains(line, ', ]'));
