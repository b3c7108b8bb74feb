-- Webhook receiver de-duplication (package webhook, SQLStore / NewDBStore):
-- one row per webhookId received. The same schema as webhook.CreateTableSQL,
-- which platforms outside vaspd run on their own database.
--   state 'processing': claimed, expires_at = end of the lease;
--   state 'done': processed, expires_at = end of the retention (409 until then).
-- token identifies the claim holder; times are Unix microseconds.

CREATE TABLE webhook_receipts (
    webhook_id  TEXT   NOT NULL PRIMARY KEY,
    state       TEXT   NOT NULL CHECK (state IN ('processing', 'done')),
    token       TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX webhook_receipts_expires_at ON webhook_receipts (expires_at);
