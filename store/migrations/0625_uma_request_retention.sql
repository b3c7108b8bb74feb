-- UMA requests received: the cap on one VASP's open requests to a user
-- (package vasp, MaxLiveUmaRequests) counts, at every request received, the
-- user's unexpired ones, read by (user_id, expires_at) instead of every
-- request the user ever received; and requests expired for longer than
-- uma-request-retention are deleted, walked by expiry.
CREATE INDEX uma_requests_user_expiry ON uma_requests (user_id, expires_at);
CREATE INDEX uma_requests_expiry ON uma_requests (expires_at);
