-- A receiver may answer two payreqs with one invoice: a new quote is
-- refused when another quote already holds its payment hash (package vasp,
-- CreateQuote), which this index keeps cheap.
CREATE INDEX uma_quotes_payment_hash ON uma_quotes (payment_hash);
