-- The platform API's audit trail (package audit): one row per audited
-- request (api: a route registered Audited), inserted in a transaction of
-- its own before the request is served and completed with its outcome
-- (HTTP status, error code) after it: a row whose status is NULL is a
-- request whose outcome is unknown (the process died, or the outcome could
-- not be written). Never a request's or an answer's body. Kept forever.
CREATE TABLE audit_events (
    id              TEXT PRIMARY KEY,      -- AuditEvent:<uuidv7>: sorts by creation
    created_at      BIGINT NOT NULL,
    token_id        TEXT NOT NULL,         -- the credential (clientId) that sent it
    token_name      TEXT NOT NULL,         -- its name then
    method          TEXT NOT NULL,
    route           TEXT NOT NULL,         -- the route pattern: PATCH /users/{userId}
    path_params     TEXT NOT NULL,         -- JSON object: {"userId": "User:…"}
    resource_id     TEXT,                  -- the path parameter's value, NULL without one
    client_address  TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    idempotency_key TEXT,
    status          INTEGER,               -- NULL: outcome unknown
    error_code      TEXT,
    completed_at    BIGINT
);
CREATE INDEX audit_events_created ON audit_events (created_at);
CREATE INDEX audit_events_token ON audit_events (token_id, id);
CREATE INDEX audit_events_resource ON audit_events (resource_id, id);
CREATE INDEX audit_events_route ON audit_events (route, id);
-- A record is history: never deleted, and its outcome is written once,
-- nothing else ever changed.
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OF id, created_at, token_id, token_name, method, route,
    path_params, resource_id, client_address, request_id, idempotency_key ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only an outcome may be added'); END;
CREATE TRIGGER audit_events_outcome_once BEFORE UPDATE ON audit_events WHEN OLD.status IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: the outcome is already recorded'); END;
