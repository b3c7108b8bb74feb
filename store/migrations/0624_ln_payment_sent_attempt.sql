-- The first attempt of an embedded-node payment whose devnet request may
-- have left the process (package lightning/embedded): recorded, in a
-- commit of its own or with the attempt's claim, before the request is
-- sent. 0: no attempt's request ever left, so a later attempt that proves
-- its own request unread (or finds no route) may fail the payment; an
-- attempt claimed but never sent (a crash between claim and send) no
-- longer keeps it in flight for good. Payments attempted before this
-- migration may have sent theirs: they say 1, and keep the old rule
-- (failed only on the payee's refusal). A FAILED payment paid again
-- starts over at 0 with its attempts.
ALTER TABLE ln_embedded_payments ADD COLUMN sent_attempt BIGINT NOT NULL DEFAULT 0;
UPDATE ln_embedded_payments SET sent_attempt = 1 WHERE attempts > 0;
