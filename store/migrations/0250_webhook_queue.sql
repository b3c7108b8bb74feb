-- Fewer index writes per delivery (docs/webhook-engine-benchmarks.md, round 4).

-- The queue index holds pending rows only: a delivered row leaves it with one
-- deletion. (A claim still moves its rows within it: the lease is their
-- next_attempt_at, so leased rows are out of the due range.)
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';

-- (status, next_attempt_at) was rewritten by every claim and result too; what
-- used it needs only the pending rows (backlog metrics) or the synchronous
-- sends a crash left 'sending' (pruning). Pruning finished rows goes by
-- created_at.
DROP INDEX webhook_deliveries_status;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (created_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_sending ON webhook_deliveries (created_at) WHERE status = 'sending';

-- The attempt log is keyed by (delivery, attempt): its "<delivery>/<n>" text
-- key was a third index on every row written.
CREATE TABLE webhook_attempts_v2 (
    delivery_id   TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    latency_us    BIGINT NOT NULL,
    status_code   BIGINT NOT NULL,                 -- 0 = no HTTP response
    response_body BYTEA NOT NULL,                  -- first 8 KiB
    error         TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
INSERT INTO webhook_attempts_v2 (delivery_id, attempt, started_at, latency_us, status_code, response_body, error)
    SELECT delivery_id, attempt, started_at, latency_us, status_code, response_body, error FROM webhook_attempts;
DROP TABLE webhook_attempts;
ALTER TABLE webhook_attempts_v2 RENAME TO webhook_attempts;
CREATE INDEX webhook_attempts_started ON webhook_attempts (started_at);
