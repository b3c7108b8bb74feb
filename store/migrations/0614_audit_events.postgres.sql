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
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_events is append-only';
    END IF;
    IF OLD.status IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events is append-only: the outcome is already recorded';
    END IF;
    IF (NEW.id, NEW.created_at, NEW.token_id, NEW.token_name, NEW.method, NEW.route, NEW.path_params,
        NEW.resource_id, NEW.client_address, NEW.request_id, NEW.idempotency_key)
        IS DISTINCT FROM (OLD.id, OLD.created_at, OLD.token_id, OLD.token_name, OLD.method, OLD.route,
        OLD.path_params, OLD.resource_id, OLD.client_address, OLD.request_id, OLD.idempotency_key) THEN
        RAISE EXCEPTION 'audit_events is append-only: only an outcome may be added';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
