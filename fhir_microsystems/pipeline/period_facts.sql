-- What the measures' fact tables (measures/facts.sql) are made from for one period,
-- joined from its encounter rows and what the derivation attributed. Inputs (Arrow,
-- registered by _period_facts.py):
--   recs(seq, <encounter month columns>)  the period's rows, then the encounters started
--                                         earlier that end and count here; by key, the
--                                         last one read is the one kept
--   att(ctx, key, ending)                 each microsystem's encounters (ending: it started
--                                         in an earlier period and counts here by its end)
--   grp(ctx, patient)                     each microsystem's patients (its Group)
--   mem(ctx, member)                      each microsystem's members (read by facts.sql)
--   follow_ups(seq, <encounter month columns>)
--                                         the inpatient and emergency encounters starting
--                                         after the period's start, within the follow-up
--                                         horizon after its end

-- @step attributed
-- Each microsystem's encounters, numbered in key order (only the narrow ``att`` is sorted),
-- each joined with the last row read of its key.
CREATE OR REPLACE TEMP TABLE attributed AS
WITH last_read AS (
    SELECT key, max(seq) AS seq FROM recs GROUP BY key
), placed AS (
    SELECT ctx, key, ending, row_number() OVER (PARTITION BY ctx ORDER BY key) AS pos FROM att
)
SELECT
    a.ctx,
    a.pos,
    a.ending,
    a.key,
    r.patient,
    r.class_code,
    r.status,
    r.start,
    r."end",
    r.participants,
    r.discharge_disposition
FROM placed AS a
JOIN last_read AS l ON l.key = a.key
JOIN recs AS r ON r.key = l.key AND r.seq = l.seq;

-- @step listed
-- The period's patients: its Groups', and those of the encounters started in it; the
-- follow-ups of those.
CREATE OR REPLACE TEMP TABLE listed AS
SELECT patient FROM grp
UNION
SELECT patient FROM attributed WHERE NOT ending AND patient IS NOT NULL;
CREATE OR REPLACE TEMP TABLE fu AS
SELECT seq, patient, key, class_code, status, start
FROM follow_ups
WHERE patient IN (SELECT patient FROM listed);
