-- POST /users/bulk/csv honours Idempotency-Key. The key is kept on the job
-- it created, written by the job's own INSERT, so no crash can leave a job
-- without its key or a key naming nothing; one key names one job. A retry
-- is compared with the first upload by the file's SHA-256 (hex), not by the
-- file, which may be 32 MiB. Both NULL for jobs submitted without a key.
ALTER TABLE user_imports ADD COLUMN idempotency_key TEXT;
ALTER TABLE user_imports ADD COLUMN csv_sha256 TEXT;
CREATE UNIQUE INDEX user_imports_idempotency_key ON user_imports (idempotency_key);
