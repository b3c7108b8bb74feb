-- GET /audit-events?createdId= (0632's column) finds its few events by an
-- index rather than by reading the trail, which only grows, newest first.
-- Partial: most events create nothing, and a filter's equality implies
-- NOT NULL, so both databases' planners use it.
CREATE INDEX audit_events_created_id ON audit_events (created_id, id) WHERE created_id IS NOT NULL;
