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

-- @step pairs
WITH people AS (
    SELECT rec, patient, epoch_us(start) AS t, len(participants) AS n,
        unnest(participants) AS person
    FROM tie_records
), encounter_pairs AS (
    SELECT a.person AS u, b.person AS v,
        count(*) FILTER (WHERE $recent IS NULL OR a.t IS NULL OR a.t >= $recent) AS recent,
        count(*) FILTER (WHERE a.t < $recent) AS older
    FROM people a JOIN people b ON a.rec = b.rec AND a.person < b.person
    WHERE a.n BETWEEN 2 AND $most
    GROUP BY ALL
), visits AS (
    SELECT DISTINCT patient, t, person FROM people WHERE patient IS NOT NULL AND t IS NOT NULL
), patient_pairs AS (
    SELECT u, v, count(*) FILTER (WHERE lately) AS recent,
        count(*) FILTER (WHERE NOT lately) AS older
    FROM (
        SELECT a.person AS u, b.person AS v, a.patient,
            bool_or($recent IS NULL OR greatest(a.t, b.t) >= $recent) AS lately
        FROM visits a JOIN visits b
            ON a.patient = b.patient AND a.person < b.person AND abs(a.t - b.t) <= $window
        GROUP BY ALL
    )
    GROUP BY ALL
)
SELECT u, v,
    coalesce(e.recent, 0) + coalesce(e.older, 0) AS shared_encounters,
    coalesce(p.recent, 0) + coalesce(p.older, 0) AS shared_patients,
    $per_encounter * (coalesce(e.recent, 0) + $lookback * coalesce(e.older, 0))
        + $per_patient * (coalesce(p.recent, 0) + $lookback * coalesce(p.older, 0)) AS weight
FROM encounter_pairs e FULL JOIN patient_pairs p USING (u, v)
ORDER BY u, v
