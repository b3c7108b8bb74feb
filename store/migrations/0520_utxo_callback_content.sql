-- A post-transaction callback is kept once per transaction and content
-- (package vasp, ReceiveUtxoCallback): a sender retrying one, after a
-- timeout that followed our commit, signs it afresh, and every retry was
-- kept as another row. content_hash is the SHA-256 of what the callback
-- says, without the nonce, timestamp and signature a retry changes; the
-- unique index keeps two copies arriving at once from both being stored.
-- Rows kept before stay NULL: SQL cannot compute the hash on both
-- databases, and they may hold the very duplicates this prevents, which a
-- unique index over computed hashes would refuse. NULLs are distinct in a
-- unique index on SQLite and PostgreSQL alike, so the index builds whatever
-- was kept; the receiver compares a new callback with those rows' bodies.
ALTER TABLE uma_utxo_callbacks ADD COLUMN content_hash TEXT;
CREATE UNIQUE INDEX uma_utxo_callbacks_content ON uma_utxo_callbacks (transaction_id, content_hash);
-- The new index serves the look-ups by transaction the old one did.
DROP INDEX uma_utxo_callbacks_tx;
