-- A request that creates something names it with its outcome: as its
-- event's resource_id if its route names none (0627), and now always as
-- created_id, the outcome's. A deposit or withdrawal names its user in
-- its path, so its resource is the user's, never replaced: the ledger
-- movement it made (or, replayed, answered with) is its created_id.
-- Like replayed, created_id is written with the outcome, once: never
-- before it (an event without an outcome created nothing known), never
-- after (the outcome is history: audit_events_outcome_once refuses any
-- update then).
ALTER TABLE audit_events ADD COLUMN created_id TEXT;
CREATE TRIGGER audit_events_created_with_outcome BEFORE UPDATE OF created_id ON audit_events
    WHEN NEW.created_id IS NOT OLD.created_id AND NEW.status IS NULL
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: a created resource is named once, with the outcome'); END;
