-- Clinician pairs of a network window: shared encounters, shared patients and the tie weight,
-- from a table ``tie_records(rec BIGINT, patient VARCHAR, start TIMESTAMPTZ,
-- participants VARCHAR[])`` of the window's encounter records (participants distinct).
--
-- A pair (u, v) is written with u < v. Its evidence:
-- - a shared encounter: both took part in one encounter of 2..$most clinicians; recent when
--   the encounter starts at or after $recent (or has no start, or $recent is NULL);
-- - a shared patient: both saw one patient (an encounter with a start) within $window
--   microseconds of each other; recent when the later of some such two visits is recent.
--   Each patient counts once per pair, recent if any of its visit pairs is.
-- The weight is scaled once from the four integer counts (order-independent):
--   $per_encounter * (recent encounters + $lookback * older ones)
--   + $per_patient * (recent patients + $lookback * older ones).
--
-- The steps run in order. Patients are counted in slices (``patient_pairs`` once per slice
-- of the patients, by hash): a pair of visits of one patient is a row of the join, so a
-- slice bounds the rows and (pair, patient) groups held at once; ``slice_load`` tells how
-- many a slice would hold with every patient in it.

-- @step people
-- (clinicians and patients numbered, clinicians in name order: the joins and groups below
-- hold integers, and u < v by number is u < v by name)
CREATE OR REPLACE TEMP TABLE tie_names AS
SELECT name, (row_number() OVER (ORDER BY name))::INTEGER AS person
FROM (SELECT DISTINCT unnest(participants) AS name FROM tie_records);
CREATE OR REPLACE TEMP TABLE tie_patients AS
SELECT patient, (row_number() OVER ())::INTEGER AS pid
FROM (SELECT DISTINCT patient FROM tie_records WHERE patient IS NOT NULL);
CREATE OR REPLACE TEMP TABLE tie_people AS
SELECT r.rec, p.pid AS patient, r.t, r.n, c.person
FROM (
    SELECT rec, patient, epoch_us(start) AS t, len(participants) AS n,
        unnest(participants) AS name
    FROM tie_records
) r JOIN tie_names c USING (name) LEFT JOIN tie_patients p USING (patient);
CREATE OR REPLACE TEMP TABLE tie_visits AS
SELECT DISTINCT patient, t, person FROM tie_people
WHERE patient IS NOT NULL AND t IS NOT NULL;
CREATE OR REPLACE TEMP TABLE tie_patient_pairs (u INTEGER, v INTEGER, recent BIGINT, older BIGINT);

-- @step slice_load
SELECT coalesce(sum(k * k), 0) FROM (SELECT count(*) AS k FROM tie_visits GROUP BY patient);

-- @step patient_pairs
INSERT INTO tie_patient_pairs
WITH visits AS (SELECT * FROM tie_visits WHERE patient % $slices = $slice)
SELECT u, v, count(*) FILTER (WHERE lately), count(*) FILTER (WHERE NOT lately)
FROM (
    SELECT a.person AS u, b.person AS v, a.patient,
        bool_or($recent IS NULL OR greatest(a.t, b.t) >= $recent) AS lately
    FROM visits a JOIN visits b
        ON a.patient = b.patient AND a.person < b.person AND abs(a.t - b.t) <= $window
    GROUP BY ALL
)
GROUP BY ALL;

-- @step pairs
-- (the pairs with at least $least_encounters shared encounters or $least_patients shared
-- patients: a tie's threshold, or 0 and 0 for every pair)
WITH encounter_pairs AS (
    SELECT a.person AS u, b.person AS v,
        count(*) FILTER (WHERE $recent IS NULL OR a.t IS NULL OR a.t >= $recent) AS recent,
        count(*) FILTER (WHERE a.t < $recent) AS older
    FROM tie_people a JOIN tie_people b ON a.rec = b.rec AND a.person < b.person
    WHERE a.n BETWEEN 2 AND $most
    GROUP BY ALL
), patient_pairs AS (
    SELECT u, v, sum(recent) AS recent, sum(older) AS older FROM tie_patient_pairs GROUP BY ALL
)
SELECT nu.name AS u, nv.name AS v,
    coalesce(e.recent, 0) + coalesce(e.older, 0) AS shared_encounters,
    (coalesce(p.recent, 0) + coalesce(p.older, 0))::BIGINT AS shared_patients,
    $per_encounter * (coalesce(e.recent, 0) + $lookback * coalesce(e.older, 0))
        + $per_patient * (coalesce(p.recent, 0) + $lookback * coalesce(p.older, 0)) AS weight
FROM encounter_pairs e FULL JOIN patient_pairs p USING (u, v)
JOIN tie_names nu ON nu.person = u JOIN tie_names nv ON nv.person = v
WHERE coalesce(e.recent, 0) + coalesce(e.older, 0) >= $least_encounters
    OR coalesce(p.recent, 0) + coalesce(p.older, 0) >= $least_patients
ORDER BY nu.person, nv.person;  -- (numbered in name order: by name)

-- @step drop
DROP TABLE tie_people; DROP TABLE tie_visits; DROP TABLE tie_patient_pairs;
DROP TABLE tie_names; DROP TABLE tie_patients;
