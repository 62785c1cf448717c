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
-- Each microsystem's encounters in key order.
CREATE OR REPLACE TEMP TABLE attributed AS
WITH by_key AS (
    SELECT * FROM recs QUALIFY row_number() OVER (PARTITION BY key ORDER BY seq DESC) = 1
)
SELECT
    a.ctx,
    row_number() OVER (PARTITION BY a.ctx ORDER BY a.key) AS pos,
    a.ending,
    key,
    r.patient,
    r.class_code,
    r.status,
    r.start,
    r."end",
    r.participants,
    r.discharge_disposition
FROM att AS a
JOIN by_key AS r USING (key);

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
