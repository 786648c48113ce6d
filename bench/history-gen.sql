-- `just bench`, history section (bench/run.sh): calls :lo to :hi of :n,
-- one every 3 s up to now (10,000,000 cover the past year). 60% inbound,
-- 30% outbound, 10% internal; 1,000,003 outside numbers (about 10 calls
-- each), 1,000 extensions ("1000" to "1999"); outcomes 70% answered, 10%
-- no answer, 8% abandoned, 5% busy, 3% voicemail, 4% failed. One leg each
-- (the extension's), and a stay in one of 20 queues ("6400" to "6419") for
-- a third of the inbound calls answered or abandoned. Written with every
-- index in place, as the worker writes them.
--
--   psql -v lo=1 -v hi=1000000 -v n=10000000 -f bench/history-gen.sql
WITH c AS (
  INSERT INTO calls (source, call_id, status, direction, from_number, to_number, started_at,
                     answered_at, ended_at, talk_seconds, duration_seconds, disposition, outcome,
                     created_at, updated_at)
  SELECT 'pbx', 'h' || i, 'ended', g.dir,
         CASE g.dir WHEN 'inbound' THEN g.outside ELSE g.ext END,
         CASE g.dir WHEN 'outbound' THEN g.outside WHEN 'internal' THEN g.ext2 ELSE g.ext END,
         g.start, CASE WHEN g.outcome = 'answered' THEN g.start + interval '8 s' END,
         g.start + interval '90 s', CASE WHEN g.outcome = 'answered' THEN 82 END, 90,
         CASE WHEN g.outcome = 'answered' THEN 'answered' ELSE 'no answer' END, g.outcome,
         g.start, g.start + interval '90 s'
    FROM generate_series(:lo::int8, :hi::int8) i,
    LATERAL (SELECT CASE WHEN i % 10 < 6 THEN 'inbound' WHEN i % 10 < 9 THEN 'outbound' ELSE 'internal' END AS dir,
                    '+1555' || lpad(((i * 7919) % 1000003)::text, 7, '0') AS outside,
                    (1000 + ((i / 7) * 31) % 1000)::text AS ext,
                    (1000 + ((i / 7) * 37 + 1) % 1000)::text AS ext2,
                    now() - (:n::int8 - i) * interval '3 s' AS start,
                    CASE WHEN i % 100 < 70 THEN 'answered' WHEN i % 100 < 80 THEN 'no_answer'
                         WHEN i % 100 < 88 THEN 'abandoned' WHEN i % 100 < 93 THEN 'busy'
                         WHEN i % 100 < 96 THEN 'voicemail' ELSE 'failed' END AS outcome) g
  RETURNING source, call_id, direction, from_number, to_number, started_at, answered_at,
            ended_at, outcome),
l AS (
  INSERT INTO call_legs (source, call_id, leg_id, kind, extension, party, state, started_at,
                         answered_at, ended_at, call_start, call_outcome)
  SELECT source, call_id, 'leg-' || call_id, 'extension',
         CASE direction WHEN 'inbound' THEN to_number ELSE from_number END,
         CASE direction WHEN 'inbound' THEN to_number ELSE from_number END,
         'ended', started_at, answered_at, ended_at, started_at, outcome
    FROM c
  RETURNING 1)
INSERT INTO call_queues (source, call_id, queue, entered_at, answered_at, agent, ended_at, outcome)
SELECT source, call_id, (6400 + substr(call_id, 2)::int8 % 20)::text, started_at,
       answered_at, CASE WHEN outcome = 'answered' THEN to_number END, ended_at,
       CASE WHEN outcome = 'answered' THEN 'answered' ELSE 'abandoned' END
  FROM c
 WHERE direction = 'inbound' AND outcome IN ('answered', 'abandoned')
   AND substr(call_id, 2)::int8 % 3 = 0
   AND (SELECT count(*) FROM l) >= 0;
