-- UMA requests received (UMAD-11): an UMA invoice another VASP addressed to
-- one of our users, kept once per (receiver, invoice UUID) for the user to
-- pay or ignore. The invoice is stored as received (bech32), so its
-- signature can be checked again by anyone.
CREATE TABLE uma_requests (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    receiver_uma  TEXT NOT NULL,
    invoice_uuid  TEXT NOT NULL,
    invoice       TEXT NOT NULL,
    amount        BIGINT NOT NULL,   -- smallest unit of currency
    currency      TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX uma_requests_invoice ON uma_requests (receiver_uma, invoice_uuid);
CREATE INDEX uma_requests_user ON uma_requests (user_id, id);
