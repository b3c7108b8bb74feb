-- The W3C traceparent (version-traceid-spanid-flags, nothing else) of the
-- sampled span that enqueued the event, or sent it synchronously; NULL
-- when there was none (tracing off, an unsampled trace, background work).
-- Every attempt of every delivery of the event, retries and replays days
-- later included, links its span to it (package delivery, tracing.go):
-- the attempt stays the root of a trace of its own, and the link says
-- which request caused it. Events stored before this migration have none.
ALTER TABLE webhook_events ADD COLUMN trace_parent TEXT;
