-- The encounter fact tables (``enc``, ``timeline``) and the patients of ``pat``, made from
-- what the microsystems were attributed; the same steps for the derive stage (rows joined
-- from its encounter months, pipeline/period_facts.sql) and for a library caller's
-- contexts (_tables.py). Inputs:
--   attributed(ctx, pos, ending, key, patient, class_code, status, start, "end",
--              participants, discharge_disposition)
--                          each microsystem's encounters, each key once per microsystem
--                          (pos: its place among them; ending: it started in an earlier
--                          period and counts here by its end)
--   mem(ctx, member)       each microsystem's members
--   grp(ctx, patient)      each microsystem's patients (its Group)
--   listed(patient)        the patients whose facts may go into ``pat``
--   fu(seq, patient, key, class_code, status, start)
--                          the encounters of the timeline (seq: the order read)

-- @step enc
-- The primary practitioner is the first listed participant who is a member.
CREATE OR REPLACE TEMP TABLE enc_rows AS
WITH taking_part AS (
    SELECT ctx, key, unnest(participants) AS member, generate_subscripts(participants, 1) AS n
    FROM attributed
),
primaries AS (
    SELECT t.ctx, t.key, arg_min(t.member, t.n) AS primary_practitioner
    FROM taking_part AS t
    JOIN mem AS m ON m.ctx = t.ctx AND m.member = t.member
    GROUP BY t.ctx, t.key
)
SELECT
    a.ctx,
    row_number() OVER (PARTITION BY a.ctx ORDER BY a.pos) AS ord,
    a.key,
    a.patient,
    a.class_code AS cls,
    a.status,
    epoch_us(a.start) AS start_us,
    epoch_us(a."end") AS end_us,
    a.discharge_disposition AS discharge,
    p.primary_practitioner,
    len(list_distinct(a.participants)) AS clinicians
FROM attributed AS a
LEFT JOIN primaries AS p USING (ctx, key);
CREATE OR REPLACE TEMP TABLE people AS
SELECT DISTINCT patient FROM enc_rows WHERE patient IS NOT NULL;

-- @step enc_table
SELECT * FROM enc_rows ORDER BY ctx, ord;

-- @step pat_keys
-- The patients of the encounters and Groups, listed.
SELECT patient FROM (SELECT patient FROM people UNION SELECT patient FROM grp)
WHERE patient IN (SELECT patient FROM listed)
ORDER BY patient;

-- @step timeline
-- The timeline encounters of the patients of the encounters, each patient's by start.
SELECT f.patient, f.key, f.class_code AS cls, f.status, epoch_us(f.start) AS start_us
FROM fu AS f
WHERE f.patient IN (SELECT patient FROM people)
ORDER BY f.patient, f.start, f.key, f.seq;
