-- UMA payments (package vasp). One row per payment in either direction:
-- INCOMING rows are created when a counterparty's payreq arrives and move
-- PENDING -> COMPLETED when the invoice settles; OUTGOING rows are created by
-- executing a quote and end COMPLETED or FAILED. Amounts are integers in the
-- smallest unit (msats for bitcoin). Details that are read whole and never
-- queried (payer data, rate details, the signed messages) are one JSON
-- document.
CREATE TABLE uma_transactions (
    id                TEXT PRIMARY KEY,
    direction         TEXT NOT NULL,
    status            TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    platform_user_id  TEXT NOT NULL,
    our_address       TEXT NOT NULL,
    counterparty      TEXT NOT NULL,
    quote_id          TEXT,
    payment_hash      TEXT,
    invoice           TEXT NOT NULL,
    currency          TEXT NOT NULL,
    amount            BIGINT NOT NULL,
    msats             BIGINT NOT NULL,
    fee               BIGINT NOT NULL,
    counter_currency  TEXT NOT NULL,
    counter_amount    BIGINT NOT NULL,
    failure_reason    TEXT NOT NULL,
    details           TEXT NOT NULL,
    approval          TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    settled_at        BIGINT
);
CREATE UNIQUE INDEX uma_transactions_hash ON uma_transactions (direction, payment_hash);
CREATE UNIQUE INDEX uma_transactions_quote ON uma_transactions (quote_id);
CREATE INDEX uma_transactions_user ON uma_transactions (user_id, id);
CREATE INDEX uma_transactions_status ON uma_transactions (status, direction);

-- A receiver lookup (GET /receiver/{uma}): the verified lnurlp response the
-- quote is built from.
CREATE TABLE uma_lookups (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    receiver    TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Quotes for outgoing payments: the locked rate and the receiver's invoice.
CREATE TABLE uma_quotes (
    id                 TEXT PRIMARY KEY,
    lookup_id          TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    status             TEXT NOT NULL,
    locked_side        TEXT NOT NULL,
    sending_currency   TEXT NOT NULL,
    sending_amount     BIGINT NOT NULL,
    fee                BIGINT NOT NULL,
    receiving_currency TEXT NOT NULL,
    receiving_amount   BIGINT NOT NULL,
    msats              BIGINT NOT NULL,
    invoice            TEXT NOT NULL,
    payment_hash       TEXT NOT NULL,
    details            TEXT NOT NULL,
    idempotency_key    TEXT,
    transaction_id     TEXT,
    expires_at         BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX uma_quotes_user ON uma_quotes (user_id, id);
CREATE UNIQUE INDEX uma_quotes_idem ON uma_quotes (user_id, idempotency_key);

-- Post-transaction callbacks received from counterparties, kept for
-- compliance.
CREATE TABLE uma_utxo_callbacks (
    id             TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    vasp_domain    TEXT NOT NULL,
    body           TEXT NOT NULL,
    received_at    BIGINT NOT NULL
);
CREATE INDEX uma_utxo_callbacks_tx ON uma_utxo_callbacks (transaction_id);
