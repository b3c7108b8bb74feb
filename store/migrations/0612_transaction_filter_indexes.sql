-- GET /transactions filters a platform uses to find one user's or one
-- counterparty's payments (package vasp, listTransactionsQuery): without
-- these each such page read every payment ever made. An address is
-- compared as vasp.NormalizeAddress writes it (lower case, no "$"), so the
-- address indexes are on that expression; the id after it serves the
-- pages' order and cursor.
CREATE INDEX uma_transactions_platform_user ON uma_transactions (platform_user_id, id);
CREATE INDEX uma_transactions_our_address ON uma_transactions ((LTRIM(LOWER(our_address), '$')), id);
CREATE INDEX uma_transactions_counterparty ON uma_transactions ((LTRIM(LOWER(counterparty), '$')), id);
