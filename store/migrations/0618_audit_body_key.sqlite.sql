-- An audited request may carry its idempotency key in its body (the
-- idempotencyKey field of deposits, withdrawals and ledger transfers)
-- rather than in the Idempotency-Key header: its event, written before
-- the body is read, learns it only with the outcome. The key may now be
-- added then, once, to an event that has none; nothing else changes (the
-- outcome is still written once, the rest never).
DROP TRIGGER audit_events_no_change;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OF id, created_at, token_id, token_name, method, route,
    path_params, resource_id, client_address, request_id ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only an outcome may be added'); END;
CREATE TRIGGER audit_events_key_once BEFORE UPDATE OF idempotency_key ON audit_events
    WHEN OLD.idempotency_key IS NOT NULL AND NEW.idempotency_key IS NOT OLD.idempotency_key
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: the idempotency key is already recorded'); END;
