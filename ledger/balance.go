package ledger

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// Balance is an account's balance in one currency.
type Balance struct {
	Account  Account
	Currency string
	Amount   int64
}

// Balance returns acct's balance in currency (0 if it never moved). For
// user and hold accounts it reads the balance row; for system accounts,
// which have none, it sums their postings.
func (l *Ledger) Balance(ctx context.Context, q store.Querier, acct Account, currency string) (int64, error) {
	bs, err := l.Balances(ctx, q, acct)
	if err != nil {
		return 0, err
	}
	for _, b := range bs {
		if b.Currency == currency {
			return b.Amount, nil
		}
	}
	return 0, nil
}

// Balances returns acct's balances in every currency it ever held, sorted by
// currency (zero balances included).
func (l *Ledger) Balances(ctx context.Context, q store.Querier, acct Account) ([]Balance, error) {
	if err := acct.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMovement, err)
	}
	query := `SELECT currency, balance FROM ledger_balances WHERE account = $1 ORDER BY currency`
	if acct.MayGoNegative() {
		// A system account's sum may leave the int64 range, where SQLite's
		// SUM fails: sum the high and low parts of the amounts apart (each
		// fits for billions of postings, exact on both databases, where /
		// and % truncate toward zero) and add them up here. SUM of BIGINT
		// is NUMERIC on PostgreSQL: read them as text.
		query = `SELECT currency, CAST(SUM(amount / 1000000000) AS TEXT), CAST(SUM(amount % 1000000000) AS TEXT)
			FROM ledger_postings WHERE account = $1 GROUP BY currency ORDER BY currency`
	}
	rows, err := q.QueryContext(ctx, query, string(acct))
	if err != nil {
		return nil, fmt.Errorf("ledger: read balances: %w", err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var (
			cur string
			amt string
			low = "0"
		)
		dest := []any{&cur, &amt}
		if acct.MayGoNegative() {
			dest = append(dest, &low)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		b, err := readSum(acct, cur, amt, low, acct.MayGoNegative())
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// readSum is the balance of acct in cur read as text: with split, from the
// two sums a query over its postings read, of amount / 10⁹ (hi) and
// amount % 10⁹ (lo) (see Balances); else hi is the balance row's value.
func readSum(acct Account, cur, hi, lo string, split bool) (Balance, error) {
	n, ok := new(big.Int).SetString(hi, 10)
	l, lok := new(big.Int).SetString(lo, 10)
	if !ok || !lok {
		return Balance{}, fmt.Errorf("ledger: read balances: %s %s: not a number", acct, cur)
	}
	if split {
		n.Mul(n, big.NewInt(1_000_000_000)).Add(n, l)
	}
	if !n.IsInt64() {
		return Balance{}, fmt.Errorf("%w: %s %s", ErrOverflow, acct, cur)
	}
	return Balance{Account: acct, Currency: cur, Amount: n.Int64()}, nil
}

// UserBalance is what a user has in one currency: Available to spend, and
// Held for outgoing payments in flight.
type UserBalance struct {
	Currency  string
	Available int64
	Held      int64
}

// UserBalances returns a user's balances in every currency they ever held,
// sorted by currency. The spendable and held balances are read by one
// statement, so of one moment: a movement between the two (a failed
// payment's release, hold → user) never reads as money gone from both —
// DELETE /users/{id} deletes a user whose balances read zero.
func (l *Ledger) UserBalances(ctx context.Context, q store.Querier, userID string) ([]UserBalance, error) {
	user, hold := UserAccount(userID), HoldAccount(userID)
	if err := user.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMovement, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT account, currency, balance FROM ledger_balances
		WHERE account IN ($1, $2) ORDER BY currency`, string(user), string(hold))
	if err != nil {
		return nil, fmt.Errorf("ledger: read balances: %w", err)
	}
	defer rows.Close()
	var out []UserBalance
	for rows.Next() {
		var (
			acct, cur string
			bal       int64
		)
		if err := rows.Scan(&acct, &cur, &bal); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Currency != cur {
			out = append(out, UserBalance{Currency: cur})
		}
		if Account(acct) == hold {
			out[len(out)-1].Held = bal
		} else {
			out[len(out)-1].Available = bal
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// In Go's byte order, whatever the database's collation.
	slices.SortFunc(out, func(a, b UserBalance) int { return strings.Compare(a.Currency, b.Currency) })
	return out, nil
}

// Entry is one posting as it appears in an account's history.
type Entry struct {
	MovementID string
	Kind       string
	Reference  string
	Account    Account
	Currency   string
	Amount     int64
	CreatedAt  time.Time
	Seq        int
}

// History returns up to limit postings of acct, newest first, older than
// the posting identified by (beforeMovement, beforeSeq) when given.
func (l *Ledger) History(ctx context.Context, q store.Querier, acct Account, beforeMovement string, beforeSeq, limit int) ([]Entry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query := `SELECT p.movement_id, m.kind, m.reference, p.account, p.currency, p.amount, p.created_at, p.seq
		FROM ledger_postings p JOIN ledger_movements m ON m.id = p.movement_id WHERE p.account = $1`
	args := []any{string(acct)}
	if beforeMovement != "" {
		query += ` AND (p.created_at, p.movement_id, p.seq) < (SELECT created_at, movement_id, seq FROM ledger_postings
			WHERE movement_id = $2 AND seq = $3)`
		args = append(args, beforeMovement, beforeSeq)
	}
	args = append(args, limit) // a parameter, so every page size shares one prepared statement
	query += fmt.Sprintf(` ORDER BY p.created_at DESC, p.movement_id DESC, p.seq DESC LIMIT $%d`, len(args))
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: read history: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e  Entry
			us int64
		)
		if err := rows.Scan(&e.MovementID, &e.Kind, &e.Reference, &e.Account, &e.Currency, &e.Amount, &us, &e.Seq); err != nil {
			return nil, err
		}
		e.CreatedAt = store.Time(us)
		out = append(out, e)
	}
	return out, rows.Err()
}
