-- Migration 0420 marked every finished payment's post-transaction callback
-- 'none' (attempted by the sender it replaced), EXPIRED ones included. But
-- an EXPIRED payment had no callback attempted, and a late settlement
-- completes it (INVOICE_EXPIRED, then paid after all): marked 'none', its
-- callback would never go out. Only 0420 can have left an EXPIRED payment
-- 'none' (the sender records states for COMPLETED payments only), so they
-- owe it again; nothing is sent unless one completes.
UPDATE uma_transactions SET callback_state = 'pending' WHERE status = 'EXPIRED' AND callback_state = 'none';
