-- Postings and movements are history: refuse to change or delete them.
CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'ledger_postings is append-only'); END;
CREATE TRIGGER ledger_movements_no_update BEFORE UPDATE ON ledger_movements
BEGIN SELECT RAISE(ABORT, 'ledger_movements is append-only'); END;
CREATE TRIGGER ledger_movements_no_delete BEFORE DELETE ON ledger_movements
BEGIN SELECT RAISE(ABORT, 'ledger_movements is append-only'); END;
