-- POST /sandbox/receive's Idempotency-Key, on the incoming transaction it
-- recorded (NULL for every other payment), with the request it was given
-- for (sender, user, currency, amount): a retry with the key answers that
-- transaction, and one with another request is refused. Unique: copies of
-- a request sent at once record one payment, the others' INSERT failing.
-- Set in the INSERT that records the payment, so the key and the payment
-- are committed together. Package vasp, sandbox_receive.go.
ALTER TABLE uma_transactions ADD COLUMN sandbox_idempotency_key TEXT;
ALTER TABLE uma_transactions ADD COLUMN sandbox_request TEXT;
CREATE UNIQUE INDEX uma_transactions_sandbox_key ON uma_transactions (sandbox_idempotency_key)
    WHERE sandbox_idempotency_key IS NOT NULL;
