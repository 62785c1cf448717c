-- The derivation's steps over a window of encounter rows (EncounterRows, registered by the
-- Python that runs each step). ``win`` is a window: the record columns and ``ord``, the
-- row's place in record order (by start, then key). Every tie is broken as the rule in the
-- calling module's docstring says, to the same result whatever order rows come in. Where a
-- rule picks one of several, it is an ``arg_min`` over a key in the rule's order (a count
-- negated to put the most first): one hash aggregate, where a window function sorted each
-- group (the attribution of a 10M window: 1.04 -> 0.50 s, +402 -> +220 MiB).

-- @step classify
-- Each record of ``recs`` (``ord``: its place there) with ``usable`` (may feed the networks)
-- and ``reason`` (the unattributed reason counted for it, if any), in record order (only
-- the row numbers are sorted: the caller takes the usable rows in this order). $first and
-- $last_end bound the periods (NULL: none); records from $lookback before $first are
-- usable.
SELECT
    ord,
    CASE
        WHEN list_contains($excluded::VARCHAR[], status) THEN false
        WHEN start IS NULL OR $first::TIMESTAMPTZ IS NULL THEN false
        WHEN start >= $last_end::TIMESTAMPTZ THEN false
        WHEN start < $first::TIMESTAMPTZ THEN start >= $lookback::TIMESTAMPTZ
        ELSE true
    END AS usable,
    CASE
        WHEN list_contains($excluded::VARCHAR[], status) THEN 'status-' || status
        WHEN start IS NULL THEN 'no-start'
        WHEN $first::TIMESTAMPTZ IS NULL THEN 'outside-periods'
        WHEN start >= $last_end::TIMESTAMPTZ OR start < $first::TIMESTAMPTZ
            THEN 'outside-periods'
    END AS reason
FROM recs
ORDER BY start, key;

-- @step homes
-- Each clinician of the window with their home context: the (organisation, location)
-- they took part in most encounters at, ties by the context's text as Python writes the
-- pair; ``found`` is false for a clinician with no encounter at any.
WITH persons AS (
    SELECT DISTINCT unnest(participants) AS person FROM win
), tallies AS (
    SELECT person, org, loc, count(*) AS n,
        '(' || CASE WHEN org IS NULL THEN 'None' ELSE '''' || org || '''' END || ', '
            || CASE WHEN loc IS NULL THEN 'None' ELSE '''' || loc || '''' END || ')' AS label
    FROM (
        SELECT unnest(participants) AS person, context AS org,
            CASE WHEN $by_location THEN location END AS loc
        FROM win
        WHERE context IS NOT NULL OR location IS NOT NULL
    )
    GROUP BY ALL
), homes AS (
    SELECT person, arg_min({'org': org, 'loc': loc}, (-n, label)) AS home
    FROM tallies GROUP BY person
)
SELECT p.person, h.person IS NOT NULL AS found, h.home.org, h.home.loc
FROM persons p LEFT JOIN homes h ON h.person = p.person
ORDER BY p.person;

-- @step activity
-- Each clinician's (hour of day, place, care setting) of every encounter of the window.
CREATE OR REPLACE TEMP TABLE activity AS
SELECT unnest(participants) AS person, ord, hour(start) AS hour,
    coalesce(nullif(location, ''), nullif(context, ''), '') AS place,
    coalesce(nullif(class_code, ''), '') AS setting
FROM win
WHERE start IS NOT NULL;

-- @step activity_counts
-- Counts of each clinician's hours, places and settings, each in order of its first
-- encounter (what sums of their shares are added up in).
SELECT person, 'hour' AS kind, hour::VARCHAR AS value, count(*) AS n, min(ord) AS first
FROM activity GROUP BY person, hour
UNION ALL
SELECT person, 'place', place, count(*), min(ord) FROM activity GROUP BY person, place
UNION ALL
SELECT person, 'setting', setting, count(*), min(ord) FROM activity GROUP BY person, setting
ORDER BY person, kind, first;

-- @step preliminary
-- Each period encounter's cluster (``owner(person, cluster)``, ``clusters(cluster, org,
-- no_team)``): the one holding most of its participants; ties: the cluster of the
-- encounter's organisation, one with an explicit team, the lower number.
CREATE OR REPLACE TEMP TABLE chosen AS
WITH votes AS (
    SELECT e.ord, o.cluster, count(*) AS votes
    FROM (SELECT ord, unnest(participants) AS person FROM win) e
    JOIN owner o USING (person)
    GROUP BY ALL
)
SELECT v.ord, arg_min(
        v.cluster, (-v.votes, c.org IS DISTINCT FROM e.context, c.no_team, v.cluster)
    ) AS cluster
FROM votes v JOIN win e USING (ord) JOIN clusters c USING (cluster)
GROUP BY v.ord;

-- @step cluster_tallies
-- Per cluster: its encounters, and the organisation context and location most of them
-- have (ties: the lower key).
WITH placed AS (
    SELECT c.cluster, e.context, e.location FROM chosen c JOIN win e USING (ord)
), contexts AS (
    SELECT cluster, arg_min(context, (-n, context)) AS context FROM (
        SELECT cluster, context, count(*) AS n FROM placed
        WHERE context IS NOT NULL GROUP BY ALL
    ) GROUP BY cluster
), locations AS (
    SELECT cluster, arg_min(location, (-n, location)) AS location FROM (
        SELECT cluster, location, count(*) AS n FROM placed
        WHERE location IS NOT NULL GROUP BY ALL
    ) GROUP BY cluster
)
SELECT t.cluster, t.encounters, x.context, l.location
FROM (SELECT cluster, count(*) AS encounters FROM placed GROUP BY cluster) t
LEFT JOIN contexts x USING (cluster) LEFT JOIN locations l USING (cluster);

-- @step member_tallies
-- Per cluster and clinician: the cluster's encounters they took part in, the first and
-- last start.
SELECT c.cluster, p.person, count(*) AS n, min(p.start) AS first, max(p.start) AS last
FROM chosen c
JOIN (SELECT ord, start, unnest(participants) AS person FROM win) p USING (ord)
GROUP BY ALL;

-- @step attribute
-- Each period encounter's microsystem (``members(ms, person, core)``, ``systems(ms, org,
-- loc, no_team)``): the one with most of its participants as members; ties: more of them
-- core, the encounter's organisation, its location, an explicit team, the lower id.
-- Encounters with none (``fallback``) go by place: the microsystem holding most of the
-- attributed encounters at their location, else their organisation context, else their
-- serviceProvider (ties: the lower id); ``reason`` tells why one found none either.
-- In order: attributed by participants, then the others, each in record order.
WITH votes AS (
    SELECT e.ord, m.ms, count(*) AS votes, sum(m.core) AS cores
    FROM (SELECT ord, unnest(participants) AS person FROM win) e
    JOIN members m USING (person)
    GROUP BY ALL
), chosen AS (
    SELECT v.ord, arg_min(v.ms, (-v.votes, -v.cores, s.org IS DISTINCT FROM e.context,
            s.loc IS DISTINCT FROM e.location, s.no_team, v.ms)) AS ms
    FROM votes v JOIN win e USING (ord) JOIN systems s USING (ms)
    GROUP BY v.ord
), held AS (
    SELECT c.ms, e.location, e.context, e.service_provider
    FROM chosen c JOIN win e USING (ord)
), places AS (
    SELECT 1 AS kind, location AS place, ms FROM held WHERE location IS NOT NULL
    UNION ALL
    SELECT 2, context, ms FROM held WHERE context IS NOT NULL
    UNION ALL
    SELECT 3, service_provider, ms FROM held WHERE service_provider IS NOT NULL
), by_place AS (
    SELECT kind, place, arg_min(ms, (-n, ms)) AS ms
    FROM (SELECT kind, place, ms, count(*) AS n FROM places GROUP BY ALL)
    GROUP BY kind, place
), waiting AS (
    SELECT w.*, coalesce(l.ms, x.ms, p.ms) AS ms
    FROM (SELECT * FROM win ANTI JOIN chosen USING (ord)) w
    LEFT JOIN by_place l ON l.kind = 1 AND l.place = w.location
    LEFT JOIN by_place x ON x.kind = 2 AND x.place = w.context
    LEFT JOIN by_place p ON p.kind = 3 AND p.place = w.service_provider
)
SELECT e.key, c.ms, NULL::VARCHAR AS reason, false AS fallback, e.ord
FROM chosen c JOIN win e USING (ord)
UNION ALL
SELECT key, ms,
    CASE
        WHEN ms IS NOT NULL THEN NULL
        WHEN len(participants) > 0 THEN 'participants-not-members'
        WHEN unresolved_participants > 0 THEN 'unresolved-participants'
        ELSE 'no-participants-no-context'
    END,
    true, ord
FROM waiting
ORDER BY fallback, ord;

-- @step patients
-- Each microsystem's patients (``served(key, patient, class_code)``, ``att(key, ms)``):
-- those with at least $least of the encounters attributed to it.
SELECT ms, list(patient) AS patients FROM (
    SELECT a.ms, s.patient
    FROM served s JOIN att a USING (key)
    WHERE s.patient IS NOT NULL
    GROUP BY ALL
    HAVING count(*) >= $least
)
GROUP BY ms
ORDER BY ms;

-- @step settings
-- Each microsystem's patients by care setting cohort (``wanted(class_code, cohort)``):
-- those with an encounter of the setting's class attributed to it.
SELECT a.ms, w.cohort, list(DISTINCT s.patient) AS patients
FROM served s JOIN att a USING (key) JOIN wanted w USING (class_code)
WHERE s.patient IS NOT NULL AND s.patient <> ''
GROUP BY ALL
ORDER BY a.ms, w.cohort;

-- @step conditions
-- Each microsystem's patients by condition cohort (``grouped(ms, patient)``, its patients;
-- ``spells(patient, cohort, onset, abatement)``): those with a spell of the cohort that
-- overlaps the period [$start, $end) (a null onset or abatement is open).
SELECT g.ms, s.cohort, list(DISTINCT g.patient) AS patients
FROM grouped g JOIN spells s USING (patient)
WHERE (s.onset IS NULL OR s.onset < $end) AND (s.abatement IS NULL OR s.abatement > $start)
GROUP BY ALL
ORDER BY g.ms, s.cohort;

-- @step drop
DROP TABLE IF EXISTS activity; DROP TABLE IF EXISTS chosen;
