-- At most one live primary endpoint (the UMAaaS config's webhookEndpoint).
-- Two concurrent PATCH /config calls could each create one before this
-- index (package delivery, SetPrimaryURL): a database that has two keeps
-- the oldest as primary, and the others become ordinary endpoints, which
-- still receive every event they were subscribed to, so nothing is lost
-- and an operator can delete them.
UPDATE webhook_endpoints SET is_primary = FALSE
WHERE is_primary AND deleted_at = 0 AND EXISTS (
    SELECT 1 FROM webhook_endpoints o
    WHERE o.is_primary AND o.deleted_at = 0
      AND (o.created_at < webhook_endpoints.created_at
           OR (o.created_at = webhook_endpoints.created_at AND o.id < webhook_endpoints.id)));
CREATE UNIQUE INDEX webhook_endpoints_one_primary ON webhook_endpoints (is_primary) WHERE is_primary AND deleted_at = 0;
