-- Replay jobs count their failed chunks in a row (package delivery,
-- runJobs): a database error leaves the job to be resumed, by any process,
-- when its lease ends, and only after this many in a row does it fail.
ALTER TABLE webhook_jobs ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
