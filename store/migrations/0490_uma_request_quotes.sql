-- POST /quotes with umaRequestId: a quote paying an UMA request names it
-- (NULL for any other quote). Execute looks up a request's quotes by it,
-- under a lock on the request's row, to pay the request at most once
-- however many quotes were made for it (package vasp, claimPayments).
ALTER TABLE uma_quotes ADD COLUMN uma_request_id TEXT;
CREATE INDEX uma_quotes_uma_request ON uma_quotes (uma_request_id);
-- Quotes recorded before this migration kept the request only in their
-- details (package vasp's quoteDetails as compact JSON: request.UmaRequestID).
-- They are filled from there, so that a request paid before the upgrade is
-- not paid again after it; LIKE and || read alike on SQLite and PostgreSQL.
-- The match is on the ids of the requests kept, of the quote's own user (a
-- quote pays only its user's request): a description quoting the key does
-- not match (its quotes are escaped); a senderUserInfo key of that name,
-- the platform's own doing, could only name a request of the same user. A
-- quote naming no request we keep stays NULL: there is nothing to protect.
UPDATE uma_quotes SET uma_request_id = (
    SELECT MIN(r.id) FROM uma_requests r
    WHERE r.user_id = uma_quotes.user_id AND uma_quotes.details LIKE ('%"UmaRequestID":"' || r.id || '"%'))
WHERE details LIKE '%"UmaRequestID":"%';
