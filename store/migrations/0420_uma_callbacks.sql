-- Post-transaction callbacks (UMA's utxoCallback), sent durably: the state
-- lives on the transaction row, so a payment that completes has its
-- callback owed in the same commit, whichever process completed it, and a
-- crash loses nothing. callback_state: pending (owed once COMPLETED, or
-- nothing to send: the worker decides), sent, none (no callback URL), dead
-- (retried for the whole window without success).
ALTER TABLE uma_transactions ADD COLUMN callback_state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE uma_transactions ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uma_transactions ADD COLUMN callback_next_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uma_transactions ADD COLUMN callback_error TEXT NOT NULL DEFAULT '';
CREATE INDEX uma_transactions_callbacks_due ON uma_transactions (callback_next_at)
    WHERE callback_state = 'pending' AND status = 'COMPLETED';
-- Payments finished before this migration had their callbacks attempted
-- by the in-process sender it replaces.
UPDATE uma_transactions SET callback_state = 'none' WHERE status <> 'PENDING' AND status <> 'PROCESSING' AND status <> 'CREATED';
