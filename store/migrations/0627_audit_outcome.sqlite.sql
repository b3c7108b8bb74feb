-- A request that creates something (POST /tokens, POST /users, `vaspd
-- token create`, …) has no resource when its event is written, before the
-- handler runs: the id of what it created is known only with the outcome.
-- resource_id may now go from NULL to a value then, once, in the update
-- that adds the outcome; a resource already named (a path's) is never
-- replaced, and the rest never changes (the outcome is still written
-- once, nothing deleted).
--
-- A request repeated with its Idempotency-Key and answered from what the
-- first did (Idempotent-Replayed: true) changes nothing: replayed says
-- so, written with the outcome (false for a request that ran; NULL for
-- events of before and those whose outcome is unknown).
ALTER TABLE audit_events ADD COLUMN replayed BOOLEAN;
DROP TRIGGER audit_events_no_change;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OF id, created_at, token_id, token_name, method, route,
    path_params, client_address, request_id ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only an outcome may be added'); END;
CREATE TRIGGER audit_events_resource_once BEFORE UPDATE OF resource_id ON audit_events
    WHEN NEW.resource_id IS NOT OLD.resource_id AND (OLD.resource_id IS NOT NULL OR NEW.status IS NULL)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: a created resource is named once, with the outcome'); END;
CREATE TRIGGER audit_events_replayed_with_outcome BEFORE UPDATE OF replayed ON audit_events
    WHEN NEW.replayed IS NOT OLD.replayed AND NEW.status IS NULL
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: replayed is written with the outcome'); END;
