-- POST /quotes/{id}/retry: a quote made to retry a FAILED payment names
-- the first quote of that payment (NULL for an ordinary quote). Execute
-- looks up a payment's quotes by it, to pay the payment at most once
-- however many retries were made (package vasp, RetryQuote).
ALTER TABLE uma_quotes ADD COLUMN original_quote_id TEXT;
CREATE INDEX uma_quotes_original ON uma_quotes (original_quote_id);
