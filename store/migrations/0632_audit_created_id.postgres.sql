-- A request that creates something names it with its outcome: as its
-- event's resource_id if its route names none (0627), and now always as
-- created_id, the outcome's. A deposit or withdrawal names its user in
-- its path, so its resource is the user's, never replaced: the ledger
-- movement it made (or, replayed, answered with) is its created_id.
-- Like replayed, created_id is written with the outcome, once: never
-- before it (an event without an outcome created nothing known), never
-- after (the outcome is history).
ALTER TABLE audit_events ADD COLUMN created_id TEXT;
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
    IF NEW.created_id IS DISTINCT FROM OLD.created_id AND NEW.status IS NULL THEN
        RAISE EXCEPTION 'audit_events is append-only: a created resource is named once, with the outcome';
    END IF;
    RETURN NEW;
END;
$$;
