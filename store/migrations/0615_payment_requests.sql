-- Payment requests we issue (UMAD-09/11, vaspd's sending side of UMA
-- requests, package vasp): an UMA invoice signed with our key asking a
-- payer to pay one of our users, kept to check the payreqs that name its
-- invoiceUUID. Its status is derived when read (paid from the incoming
-- transactions that name it, expired from expires_at), except a
-- cancellation, which is stored. Delivery to the named sender's VASP
-- (sender_uma) is recorded: NONE without a sender, PENDING until tried,
-- DELIVERED or FAILED (delivery_code, delivery_message: why).
CREATE TABLE payment_requests (
    id                    TEXT PRIMARY KEY,
    user_id               TEXT NOT NULL,
    receiver_uma          TEXT NOT NULL,   -- the user's UMA address the invoice names
    sender_uma            TEXT NOT NULL,   -- '' when the invoice names none
    invoice_uuid          TEXT NOT NULL,
    invoice               TEXT NOT NULL,   -- bech32 uma1…, as signed
    amount                BIGINT NOT NULL, -- smallest unit of currency
    currency              TEXT NOT NULL,
    max_num_payments      INTEGER NOT NULL,
    comment_chars_allowed INTEGER NOT NULL,
    idempotency_key       TEXT,
    delivery_status       TEXT NOT NULL,
    delivery_code         TEXT NOT NULL,
    delivery_message      TEXT NOT NULL,
    delivery_attempted_at BIGINT,
    expires_at            BIGINT NOT NULL,
    cancelled_at          BIGINT,
    created_at            BIGINT NOT NULL
);
CREATE UNIQUE INDEX payment_requests_invoice ON payment_requests (invoice_uuid);
CREATE UNIQUE INDEX payment_requests_idem ON payment_requests (user_id, idempotency_key);
CREATE INDEX payment_requests_user ON payment_requests (user_id, id);

-- The payment request an incoming payment pays (its payreq named the
-- request's invoiceUUID): counted against max_num_payments while CREATED,
-- PENDING or COMPLETED. The index is partial: an ordinary payment (most of
-- them) has none, and its insert and status changes would otherwise each
-- write an index entry for NULL on the payreq path.
ALTER TABLE uma_transactions ADD COLUMN payment_request_id TEXT;
CREATE INDEX uma_transactions_payment_request ON uma_transactions (payment_request_id, status)
    WHERE payment_request_id IS NOT NULL;
