-- Compliance.RegisterTransaction is told of every COMPLETED payment at
-- least once (package vasp, register.go): what is owed lives on the
-- transaction row, so a payment that completes owes its registration from
-- that very commit, and a crash before the call loses nothing.
-- register_state: pending (owed once COMPLETED), done. register_next_at
-- is when a process may claim it (a lease, as callback_next_at); 0 for a
-- payment that completes: the completing process's own claim runs from
-- settled_at.
ALTER TABLE uma_transactions ADD COLUMN register_state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE uma_transactions ADD COLUMN register_next_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX uma_transactions_register_due ON uma_transactions (register_next_at)
    WHERE register_state = 'pending' AND status = 'COMPLETED';
-- Payments completed before this migration were told to the hook by the
-- process that completed them (at most once: nothing says which were).
-- Payments not yet COMPLETED, EXPIRED ones included (a late settlement
-- completes them), stay owed.
UPDATE uma_transactions SET register_state = 'done' WHERE status = 'COMPLETED';
