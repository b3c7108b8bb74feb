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
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_events is append-only';
    END IF;
    IF OLD.status IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events is append-only: the outcome is already recorded';
    END IF;
    IF (NEW.id, NEW.created_at, NEW.token_id, NEW.token_name, NEW.method, NEW.route, NEW.path_params,
        NEW.client_address, NEW.request_id)
        IS DISTINCT FROM (OLD.id, OLD.created_at, OLD.token_id, OLD.token_name, OLD.method, OLD.route,
        OLD.path_params, OLD.client_address, OLD.request_id) THEN
        RAISE EXCEPTION 'audit_events is append-only: only an outcome may be added';
    END IF;
    IF OLD.idempotency_key IS NOT NULL AND NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key THEN
        RAISE EXCEPTION 'audit_events is append-only: the idempotency key is already recorded';
    END IF;
    IF NEW.resource_id IS DISTINCT FROM OLD.resource_id AND (OLD.resource_id IS NOT NULL OR NEW.status IS NULL) THEN
        RAISE EXCEPTION 'audit_events is append-only: a created resource is named once, with the outcome';
    END IF;
    IF NEW.replayed IS DISTINCT FROM OLD.replayed AND NEW.status IS NULL THEN
        RAISE EXCEPTION 'audit_events is append-only: replayed is written with the outcome';
    END IF;
    RETURN NEW;
END;
$$;
