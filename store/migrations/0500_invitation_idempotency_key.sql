-- POST /invitations honours Idempotency-Key. The key is kept on the
-- invitation it created, written by the invitation's own INSERT, so no
-- crash can leave an invitation without its key or a key naming nothing.
-- A key names one invitation whoever the inviter (as an execute's key names
-- one quote, 0401): a retry compares its request with the stored row.
-- NULL for invitations created without a key.
ALTER TABLE invitations ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX invitations_idempotency_key ON invitations (idempotency_key);
