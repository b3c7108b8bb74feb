-- A deleted webhook endpoint's row stays (its deliveries refer to it), but
-- nothing is signed for it any more: its secrets are wiped (package
-- delivery, deleteEndpoint, does so at each deletion since this version).
-- These are the endpoints deleted before. The current secret is NOT NULL:
-- an empty one, which no signer takes.
UPDATE webhook_endpoints SET secret = X'', prev_secret = NULL, prev_secret_until = 0
WHERE deleted_at > 0 AND (length(secret) > 0 OR prev_secret IS NOT NULL OR prev_secret_until <> 0);
