-- POST /quotes with autoRefresh (vaspd's own): the quote's terms are
-- renewed in place shortly before its invoice expires, while the platform
-- holds it (package vasp, refresh.go). auto_refresh says it was asked;
-- refresh_count and refreshed_at (NULL: never) say how often and when it
-- last was. refresh_next_at is when a process may next claim it: a lease
-- while one refreshes it, a pass after a failed attempt, 0 otherwise (the
-- invoice's expiry then says when it is due). Quotes made before this
-- migration never auto-refresh.
ALTER TABLE uma_quotes ADD COLUMN auto_refresh BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE uma_quotes ADD COLUMN refresh_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uma_quotes ADD COLUMN refreshed_at BIGINT;
ALTER TABLE uma_quotes ADD COLUMN refresh_next_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX uma_quotes_refresh_due ON uma_quotes (expires_at)
    WHERE auto_refresh = TRUE AND status = 'PENDING';
