-- POST /users honours Idempotency-Key. The key is kept on the user it
-- created, written by the user's own INSERT, so no crash can leave a user
-- without its key or a key naming nothing; one key names one user, deleted
-- or not (as an invitation's key names one invitation, 0500). A retry is
-- compared with the first request by the SHA-256 (hex) of that request,
-- normalised, not with the row, which PATCH changes; the request itself is
-- not kept, so personal data it held does not outlive a PATCH. Both NULL
-- for users created without a key (and by bulk uploads).
ALTER TABLE users ADD COLUMN idempotency_key TEXT;
ALTER TABLE users ADD COLUMN request_sha256 TEXT;
CREATE UNIQUE INDEX users_idempotency_key ON users (idempotency_key);
