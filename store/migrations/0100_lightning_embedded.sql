-- Embedded Lightning node (lightning/embedded). Everything the node knows
-- lives here, not in memory, so a restart loses nothing and several vaspd
-- processes sharing one PostgreSQL database act as one node. Rows are keyed
-- by the node's public key (hex), so different nodes may share a database.

-- One row per node: its balance and the last settle index handed out.
-- Settling an invoice increments settle_index under this row's lock, so
-- settle indexes are dense and commit in order.
CREATE TABLE ln_embedded_nodes (
    pubkey       TEXT PRIMARY KEY,
    balance_msat BIGINT NOT NULL,
    settle_index BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Invoices the node issued. preimage is the secret that proves payment;
-- paid_by is the paying node, so a retried payment gets the same answer
-- while any other payer is refused.
CREATE TABLE ln_embedded_invoices (
    node_pubkey      TEXT NOT NULL,
    payment_hash     TEXT NOT NULL,          -- hex
    preimage         TEXT NOT NULL,          -- hex
    payment_request  TEXT NOT NULL,
    amount_msat      BIGINT NOT NULL,        -- 0: any amount
    amount_paid_msat BIGINT NOT NULL,
    description_hash TEXT NOT NULL,          -- hex
    state            TEXT NOT NULL,          -- OPEN, SETTLED
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    settled_at       BIGINT NOT NULL,        -- 0 until settled
    settle_index     BIGINT NOT NULL,        -- 0 until settled
    paid_by          TEXT NOT NULL,          -- payer pubkey, '' until settled
    PRIMARY KEY (node_pubkey, payment_hash)
);
CREATE UNIQUE INDEX ln_embedded_invoices_settle ON ln_embedded_invoices (node_pubkey, settle_index) WHERE settle_index > 0;

-- Outgoing payments. A payment is written IN_FLIGHT, with its amount and fee
-- debited, before the payee hears of it; it becomes SUCCEEDED with the
-- preimage, or FAILED with the debit returned. attempts counts deliveries
-- tried: only a payment whose single attempt provably never reached the
-- payee may fail without the payee's answer.
CREATE TABLE ln_embedded_payments (
    node_pubkey     TEXT NOT NULL,
    payment_hash    TEXT NOT NULL,          -- hex
    payment_request TEXT NOT NULL,
    destination     TEXT NOT NULL,          -- payee pubkey, hex
    amount_msat     BIGINT NOT NULL,
    fee_msat        BIGINT NOT NULL,
    status          TEXT NOT NULL,          -- IN_FLIGHT, SUCCEEDED, FAILED
    preimage        TEXT NOT NULL,          -- hex, '' until SUCCEEDED
    failure_reason  TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    resolved_at     BIGINT NOT NULL,        -- 0 while IN_FLIGHT
    PRIMARY KEY (node_pubkey, payment_hash)
);
CREATE INDEX ln_embedded_payments_status ON ln_embedded_payments (node_pubkey, status);
