-- Lookups (GET /receiver/{uma}) older than lookup-retention that no quote
-- was made from are deleted (package vasp, lookups.go): a platform may look
-- a receiver up on every keystroke, and each lookup keeps the receiver's
-- whole signed lnurlp answer. The purge walks lookups by age and asks, for
-- each, whether a quote names it.
CREATE INDEX uma_lookups_created ON uma_lookups (created_at);
CREATE INDEX uma_quotes_lookup ON uma_quotes (lookup_id);
