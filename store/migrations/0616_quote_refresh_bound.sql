-- The terms a quote was made with, those the platform showed its user:
-- what the user is debited (sending_amount, our fee included, as execute
-- reserves it) and what the receiver is credited (receiving_amount, the
-- receiving currency's smallest unit). An auto-refresh rewrites
-- sending_amount and receiving_amount in place; its new terms are written
-- only within quote-refresh-max-change-bps of these (package vasp,
-- refresh_bound.go). Written for every quote made from now on, never
-- changed. NULL for a quote made before this migration, but for a pending
-- auto-refresh quote never refreshed yet, whose terms are still those it
-- was made with: copied below. A NULL one is bounded by the terms it holds
-- at each refresh.
ALTER TABLE uma_quotes ADD COLUMN initial_sending_amount BIGINT;
ALTER TABLE uma_quotes ADD COLUMN initial_receiving_amount BIGINT;
UPDATE uma_quotes SET initial_sending_amount = sending_amount, initial_receiving_amount = receiving_amount
    WHERE auto_refresh = TRUE AND status = 'PENDING' AND refresh_count = 0;
