-- An audited request may carry its idempotency key in its body (the
-- idempotencyKey field of deposits, withdrawals and ledger transfers)
-- rather than in the Idempotency-Key header: its event, written before
-- the body is read, learns it only with the outcome. The key may now be
-- added then, once, to an event that has none; nothing else changes (the
-- outcome is still written once, the rest never).
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_events is append-only';
    END IF;
    IF OLD.status IS NOT NULL THEN
        RAISE EXCEPTION 'audit_events is append-only: the outcome is already recorded';
    END IF;
    IF (NEW.id, NEW.created_at, NEW.token_id, NEW.token_name, NEW.method, NEW.route, NEW.path_params,
        NEW.resource_id, NEW.client_address, NEW.request_id)
        IS DISTINCT FROM (OLD.id, OLD.created_at, OLD.token_id, OLD.token_name, OLD.method, OLD.route,
        OLD.path_params, OLD.resource_id, OLD.client_address, OLD.request_id) THEN
        RAISE EXCEPTION 'audit_events is append-only: only an outcome may be added';
    END IF;
    IF OLD.idempotency_key IS NOT NULL AND NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key THEN
        RAISE EXCEPTION 'audit_events is append-only: the idempotency key is already recorded';
    END IF;
    RETURN NEW;
END;
$$;
