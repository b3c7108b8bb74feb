-- An event for more endpoints than one fan-out chunk (package delivery,
-- fanout.go) is written by its producer's transaction as the event and one
-- row here, the endpoints it matched at that moment; the worker then writes
-- their deliveries in short transactions of its own, so that the producer's
-- transaction holds SQLite's single writer for one row, not a hundred.
-- A row leaves when its last delivery is written.
CREATE TABLE webhook_fanouts (
    event_id   TEXT PRIMARY KEY,                  -- the webhook_events row
    endpoints  TEXT NOT NULL,                     -- endpoint ids matched at enqueue, comma-separated, in order
    written    BIGINT NOT NULL,                   -- how many of them have their delivery
    created_at BIGINT NOT NULL                    -- the event's created_at, the deliveries' too
);
CREATE INDEX webhook_fanouts_created ON webhook_fanouts (created_at);
