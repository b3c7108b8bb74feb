-- Why a quote made with autoRefresh stopped auto-refreshing, for the
-- platform holding it (the quote's autoRefreshStopped, package vasp):
-- PRICE_CHANGED (a refresh's new terms were beyond
-- quote-refresh-max-change-bps of its first ones), USER_DELETED (its
-- sender was deleted), REPLACED (POST /quotes/{id}/refresh made a new quote
-- that auto-refreshes instead). '' while it auto-refreshes, and for a quote
-- that never did. Quotes stopped before this migration say ''.
ALTER TABLE uma_quotes ADD COLUMN auto_refresh_stopped TEXT NOT NULL DEFAULT '';
