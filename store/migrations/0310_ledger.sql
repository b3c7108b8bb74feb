-- The double-entry ledger (package ledger). A movement is one idempotent
-- money movement (its id is the caller's idempotency key); its postings sum
-- to zero per currency. Postings are append-only (see 0311). Balances are
-- kept per (account, currency) for accounts that may not go negative (users
-- and their holds) and are changed only by conditional UPDATEs in the same
-- transaction as the postings; system accounts have no balance row (their
-- balance is the sum of their postings), so no payment waits on a hot row.

CREATE TABLE ledger_movements (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    reference  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- A client reference names one deposit (or one withdrawal), whatever
-- idempotency key the request carried.
CREATE UNIQUE INDEX ledger_movements_client_ref ON ledger_movements (kind, reference)
    WHERE kind IN ('deposit', 'withdrawal') AND reference <> '';
CREATE INDEX ledger_movements_reference ON ledger_movements (reference);

CREATE TABLE ledger_postings (
    movement_id TEXT NOT NULL REFERENCES ledger_movements (id),
    seq         BIGINT NOT NULL,
    account     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount <> 0),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (movement_id, seq)
);
CREATE INDEX ledger_postings_account ON ledger_postings (account, currency, created_at);

CREATE TABLE ledger_balances (
    account    TEXT NOT NULL,
    currency   TEXT NOT NULL,
    balance    BIGINT NOT NULL CHECK (balance >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, currency)
);
