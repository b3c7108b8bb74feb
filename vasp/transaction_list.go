package vasp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// Listing transactions: UMAaaS's listTransactions filters, each served by
// an index (TestTransactionFiltersUseIndexes), and cursor pages.

// TransactionFilter narrows ListTransactions. Its fields are UMAaaS's
// listTransactions filters; a zero field does not filter.
type TransactionFilter struct {
	UserID         string
	PlatformUserID string // the platformUserId the transaction shows (its user's when it was made)
	Direction      string
	Status         string
	From, To       time.Time // created at, [From, To]: both inclusive, as UMAaaS's startDate and endDate
	// Address, Sender and Receiver are UMA addresses, each as
	// NormalizeAddress returns it: Address matches either side of the
	// payment, Sender and Receiver the side the transaction shows as
	// senderUmaAddress or receiverUmaAddress.
	Address, Sender, Receiver string
	// Reference is what the transaction shows as its reference: an
	// incoming payment's reconciliationInstructions.reference (its id,
	// once it has an invoice) or an outgoing one's
	// paymentInstructions.reference (its quote's id).
	Reference string
	// PaymentRequestID lists the incoming payments of one payment request
	// we issued (vaspd's own filter: payment_request.go).
	PaymentRequestID string
	// Ascending lists oldest first (UMAaaS sortOrder=asc); newest first
	// otherwise.
	Ascending bool
}

// NormalizeAddress is an UMA address as TransactionFilter compares it:
// ASCII letters in lower case, without its "$" (Lightning Addresses, which have none, are
// counterparties too).
func NormalizeAddress(a string) string {
	// ASCII only, as SQL's LOWER on SQLite: the column and the value must
	// fold alike.
	b := []byte(strings.TrimPrefix(a, "$"))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Each side of a payment as a SQL expression of its row, normalized as
// NormalizeAddress does.
const (
	sqlOurAddress   = "LTRIM(LOWER(our_address), '$')"
	sqlCounterparty = "LTRIM(LOWER(counterparty), '$')"
)

// ListTransactions returns transactions matching f, newest first (oldest
// first with f.Ascending), after the cursor id (exclusive; the last id of
// the previous page in the same order), at most limit, their travel-rule
// data decrypted.
func (s *Service) ListTransactions(ctx context.Context, f TransactionFilter, cursor string, limit int) ([]Transaction, error) {
	q, args := listTransactionsQuery(f, cursor, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	defer rows.Close()
	var out []Transaction
	for rows.Next() {
		t, err := scanTransaction(rows)
		if err != nil {
			return nil, err
		}
		_, _ = s.revealTravelRule(&t) // undecryptable data stays as received
		out = append(out, t)
	}
	return out, rows.Err()
}

// listTransactionsQuery is ListTransactions' query and its arguments. Each
// filter is written so that an index can serve it (TestTransactionFiltersUseIndexes):
// a comparison per column, never a value IN a list of columns or a CASE.
func listTransactionsQuery(f TransactionFilter, cursor string, limit int) (string, []any) {
	var w store.Where
	if f.UserID != "" {
		w.Add("user_id = ?", f.UserID)
	}
	if f.PlatformUserID != "" {
		w.Add("platform_user_id = ?", f.PlatformUserID)
	}
	if f.Direction != "" {
		w.Add("direction = ?", f.Direction)
	}
	if f.Status != "" {
		w.Add("status = ?", f.Status)
	}
	w.Within("created_at", f.From, f.To)
	if f.Address != "" {
		w.Add("("+sqlOurAddress+" = ? OR "+sqlCounterparty+" = ?)", f.Address)
	}
	// The sender of an incoming payment is its counterparty, of an
	// outgoing one our user; the receiver the other way round.
	if f.Sender != "" {
		w.Add("((direction = 'INCOMING' AND "+sqlCounterparty+" = ?) OR (direction <> 'INCOMING' AND "+sqlOurAddress+" = ?))", f.Sender)
	}
	if f.Receiver != "" {
		w.Add("((direction = 'INCOMING' AND "+sqlOurAddress+" = ?) OR (direction <> 'INCOMING' AND "+sqlCounterparty+" = ?))", f.Receiver)
	}
	// An outgoing payment's reference is its quote; an incoming one's its
	// own id, once it has an invoice (not while CREATED).
	if f.Reference != "" {
		w.Add("((direction = 'OUTGOING' AND quote_id = ?) OR (direction <> 'OUTGOING' AND status <> 'CREATED' AND id = ?))", f.Reference)
	}
	if f.PaymentRequestID != "" {
		w.Add("payment_request_id = ?", f.PaymentRequestID)
	}
	order := "DESC"
	if f.Ascending {
		order = "ASC"
	}
	if cursor != "" {
		if f.Ascending {
			w.Add("id > ?", cursor)
		} else {
			w.Add("id < ?", cursor)
		}
	}
	q := fmt.Sprintf("SELECT %s FROM uma_transactions WHERE %s ORDER BY id %s LIMIT $%d", txColumns, w.String(), order, w.Next())
	return q, append(w.Args(), limit)
}
