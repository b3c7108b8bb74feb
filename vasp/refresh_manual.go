package vasp

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// RefreshQuote replaces quote id, expired or not, by a new quote for its
// request, priced with a fresh payreq: the new quote has auto-refresh if
// the old one was made with it, and a refreshed retry is a retry of the
// same payment (OriginalQuoteID). The old quote is paid by no one from
// then on: in the transaction that records the new one, it is stored
// EXPIRED (its expiresAt the refresh's time, if later) and notes its
// replacement, conditional on it being still unexecuted and unreplaced,
// its row locked. An execute claiming it meanwhile is either seen there,
// and the refresh refused 409 QUOTE_ALREADY_EXECUTED (its new invoice is
// left unpaid), or finds it EXPIRED and is refused 409 QUOTE_EXPIRED (its
// claim is conditional on PENDING). Without it, a refresh whose payreq
// was out while the quote was executed made a second quote for the same
// payment, and the platform holding both could pay twice. A quote already
// replaced is not refreshed again (409 CONFLICT, naming its new quote):
// two refreshes of one quote would leave two new quotes payable.
func (s *Service) RefreshQuote(ctx context.Context, id string) (Quote, error) {
	q, err := s.GetQuote(ctx, id)
	if err != nil {
		return q, err
	}
	if err := refreshable(q); err != nil {
		return Quote{}, err
	}
	nq, details, err := s.newQuote(ctx, q.Request)
	if err != nil {
		return Quote{}, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// The lock: an execute claiming the quote (its UPDATE) is waited
		// for, and seen by the read below (PostgreSQL, READ COMMITTED: a
		// statement reads what committed before it); SQLite has one writer.
		if _, err := tx.ExecContext(ctx, `UPDATE uma_quotes SET updated_at = updated_at WHERE id = $1`, id); err != nil {
			return fmt.Errorf("lock quote: %w", err)
		}
		var raw string
		cur, err := scanQuote(rawDetails(tx.QueryRowContext(ctx, `SELECT `+quoteColumns+`, details FROM uma_quotes WHERE id = $1`, id), &raw))
		if err != nil {
			return fmt.Errorf("read quote: %w", err)
		}
		if err := refreshable(cur); err != nil {
			return err
		}
		replaced, err := withReplacedBy(raw, nq.ID)
		if err != nil {
			return fmt.Errorf("quote %s: %w", id, err)
		}
		now := store.Micros(s.stamp())
		// Of an auto-refresh quote, the new one auto-refreshes instead
		// (the platform holds it; the receiver is not sent payreqs for
		// both); an auto-refresh in flight finds it not PENDING.
		res, err := tx.ExecContext(ctx, `UPDATE uma_quotes SET status = $1, expires_at = CASE WHEN expires_at > $2 THEN $2 ELSE expires_at END,
			details = $3, auto_refresh_stopped = CASE WHEN auto_refresh = TRUE THEN $4 ELSE auto_refresh_stopped END,
			auto_refresh = FALSE, refresh_next_at = 0, updated_at = $2
			WHERE id = $5 AND status = $6 AND transaction_id IS NULL`,
			QuoteExpired, now, replaced, RefreshStoppedReplaced, id, QuotePending)
		if err != nil {
			return fmt.Errorf("replace quote: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 { // the lock and read above make it 1
			return cmp.Or(err, error(vaspd.Conflict(vaspd.CodeQuoteNotPending, "quote %s changed while refreshed: refresh it again", id)))
		}
		return insertQuote(ctx, tx, nq, details)
	})
	if err != nil {
		return Quote{}, err
	}
	return nq, nil
}

// refreshable refuses (409) the refresh of q once q was executed, or
// replaced by an earlier refresh.
func refreshable(q Quote) error {
	if q.TransactionID != "" || (q.Status != QuotePending && q.Status != QuoteExpired) {
		return vaspd.Conflict(vaspd.CodeQuoteAlreadyExecuted, "quote %s was executed; it cannot be refreshed", q.ID)
	}
	if q.replacedBy != "" {
		return vaspd.Conflict(vaspd.CodeConflict, "quote %s was refreshed already: its new quote is %s; refresh or execute that one", q.ID, q.replacedBy)
	}
	return nil
}

// rawDetails is row, whose columns are quoteColumns and then details
// again, read by scanQuote with that last column into raw.
func rawDetails(row interface{ Scan(...any) error }, raw *string) interface{ Scan(...any) error } {
	return scanFunc(func(dest ...any) error { return row.Scan(append(dest, raw)...) })
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// withReplacedBy is the stored details raw with replacedBy set to id, its
// other keys kept as they are.
func withReplacedBy(raw, id string) (string, error) {
	var d map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return "", err
	}
	d["replacedBy"], _ = json.Marshal(id)
	b, err := json.Marshal(d)
	return string(b), err
}
