-- An Idempotency-Key names one execute across all users: a key reused on
-- another quote, whoever's, is refused (409) instead of paying again.
DROP INDEX uma_quotes_idem;
CREATE UNIQUE INDEX uma_quotes_idempotency_key ON uma_quotes (idempotency_key);
