-- Durable webhook delivery (package delivery): endpoints, events (the exact
-- bytes sent), one delivery row per (event, endpoint) which is also the queue
-- entry, the attempt log, and background replay jobs.

CREATE TABLE webhook_endpoints (
    id                 TEXT PRIMARY KEY,           -- WebhookEndpoint:<uuidv7>
    url                TEXT NOT NULL,
    description        TEXT NOT NULL,
    event_types        TEXT NOT NULL,              -- comma-separated; empty = every type
    enabled            BOOLEAN NOT NULL,
    disabled_reason    TEXT NOT NULL,
    is_primary         BOOLEAN NOT NULL,           -- the UMAaaS config's webhookEndpoint
    timeout_ms         BIGINT NOT NULL,            -- 0 = the worker's default
    sign_ed25519       BOOLEAN NOT NULL,           -- also sign v1a with vaspd's ed25519 key
    secret             BYTEA NOT NULL,
    prev_secret        BYTEA,
    prev_secret_until  BIGINT NOT NULL,            -- micros; the old secret signs until then
    failure_streak     BIGINT NOT NULL,
    backoff_until      BIGINT NOT NULL,            -- micros; no attempt before (circuit / Retry-After)
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    deleted_at         BIGINT NOT NULL             -- 0 = live
);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,                  -- Webhook:<uuidv7>, the webhookId
    type        TEXT NOT NULL,
    payload     BYTEA NOT NULL,                    -- the exact JSON body, signed as is
    occurred_at BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

-- status: pending (waiting or due; claimed rows have next_attempt_at pushed to
-- the lease end), delivered, failed (synchronous sends, never retried), dead
-- (retry window exhausted). Deliveries of a disabled endpoint stay pending.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,             -- WebhookDelivery:<uuidv7>
    event_id         TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    lease_token      TEXT NOT NULL,                -- set by the claim; guards the completion
    first_attempt_at BIGINT NOT NULL,              -- 0 until attempted; the retry window starts here
    last_status      BIGINT NOT NULL,              -- last HTTP status, 0 = none
    last_error       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,                -- <delivery id>/<n>
    delivery_id   TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    latency_us    BIGINT NOT NULL,
    status_code   BIGINT NOT NULL,                 -- 0 = no HTTP response
    response_body BYTEA NOT NULL,                  -- first 8 KiB
    error         TEXT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
CREATE INDEX webhook_attempts_started ON webhook_attempts (started_at);

CREATE TABLE webhook_jobs (
    id           TEXT PRIMARY KEY,                 -- Job:<uuidv7>
    kind         TEXT NOT NULL,                    -- replay
    params       TEXT NOT NULL,                    -- JSON
    status       TEXT NOT NULL,                    -- pending, running, completed, failed
    cursor       TEXT NOT NULL,                    -- progress marker (last delivery id handled)
    processed    BIGINT NOT NULL,
    error        TEXT NOT NULL,
    lease_until  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL
);
CREATE INDEX webhook_jobs_status ON webhook_jobs (status, lease_until);
