-- LND backend (lightning/lnd): every outgoing payment is recorded here as
-- IN_FLIGHT *before* it is handed to lnd, so a payment in flight when vaspd
-- stopped is found and tracked to its final state after a restart, and
-- paying the same invoice twice never reaches lnd twice. Keyed by the lnd
-- node's identity key as well, so several nodes can share one database.
CREATE TABLE lnd_payments (
    node_pubkey     TEXT NOT NULL,
    payment_hash    TEXT NOT NULL,          -- hex
    payment_request TEXT NOT NULL,
    destination     TEXT NOT NULL,          -- payee pubkey, hex
    amount_msat     BIGINT NOT NULL,
    max_fee_msat    BIGINT NOT NULL,
    fee_msat        BIGINT NOT NULL,
    status          TEXT NOT NULL,          -- IN_FLIGHT, SUCCEEDED, FAILED
    preimage        TEXT NOT NULL,          -- hex, '' until SUCCEEDED
    failure_reason  TEXT NOT NULL,          -- lightning.FailureReason, '' unless FAILED
    attempts        BIGINT NOT NULL,        -- sends; a FAILED payment may be retried
    created_at      BIGINT NOT NULL,        -- first attempt, UTC micros
    attempted_at    BIGINT NOT NULL,        -- latest attempt
    resolved_at     BIGINT,
    PRIMARY KEY (node_pubkey, payment_hash)
);
CREATE INDEX lnd_payments_status ON lnd_payments (node_pubkey, status);
