package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Ledger records movements and answers balance questions. Create it with
// New; it is safe for concurrent use and holds no state besides its
// database and clock.
type Ledger struct {
	db    *store.DB
	clock vaspd.Clock
}

// New returns a Ledger over db (whose migrations created the ledger tables).
// A nil clock means the system clock.
func New(db *store.DB, clock vaspd.Clock) *Ledger {
	if clock == nil {
		clock = vaspd.SystemClock{}
	}
	return &Ledger{db: db, clock: clock}
}

// Post records m in a transaction of its own. See Transfer.
func (l *Ledger) Post(ctx context.Context, m Movement) (Movement, error) {
	var out Movement
	err := l.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		out, err = l.Transfer(ctx, tx, m)
		return err
	})
	return out, err
}

// Transfer records m inside the caller's transaction, so a payment's state
// change, its money movement and the webhook announcing it commit together
// or not at all.
//
// It checks that m balances, then either records it or, if a movement with
// the same ID exists, returns that one with Replayed set (or an error
// wrapping ErrIdempotencyConflict if its content differs). Accounts that may
// not go negative are debited with conditional UPDATEs, so concurrent
// movements can never overdraw them on either database; an overdraft fails
// with an error wrapping ErrInsufficientFunds (a *vaspd.Error with code
// INSUFFICIENT_BALANCE).
//
// Transfer runs under a savepoint: when it returns an error, nothing of m
// was written and tx is still usable (on PostgreSQL too), so the caller may
// record the failure — e.g. mark the payment FAILED — in the same
// transaction.
func (l *Ledger) Transfer(ctx context.Context, tx *store.Tx, m Movement) (out Movement, err error) {
	if err := m.Validate(); err != nil {
		return Movement{}, err
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT ledger_transfer`); err != nil {
		return Movement{}, fmt.Errorf("ledger: savepoint: %w", err)
	}
	defer func() {
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT ledger_transfer`); rerr != nil {
				err = errors.Join(err, fmt.Errorf("ledger: rollback to savepoint: %w", rerr))
				return
			}
		}
		if _, rerr := tx.ExecContext(ctx, `RELEASE SAVEPOINT ledger_transfer`); rerr != nil && err == nil {
			err = fmt.Errorf("ledger: release savepoint: %w", rerr)
		}
	}()
	return l.transfer(ctx, tx, m, true)
}

// TransferNoSavepoint records m inside the caller's transaction as Transfer
// does, without Transfer's savepoint: two statements (on PostgreSQL, two
// round trips) fewer. When it returns an error, part of m may have been
// written and tx may be unusable (on PostgreSQL), so the caller must roll
// tx back — it is for callers that abandon their transaction on any error.
//
// One race is not absorbed: a concurrent transaction recording this very
// movement that wins on the reference index (see Transfer) makes this one
// fail instead of replaying. Callers use it where a row they have already
// updated in tx (a payment's status, claimed conditionally) keeps a second
// transaction from recording the same movement at the same time.
func (l *Ledger) TransferNoSavepoint(ctx context.Context, tx *store.Tx, m Movement) (Movement, error) {
	if err := m.Validate(); err != nil {
		return Movement{}, err
	}
	return l.transfer(ctx, tx, m, false)
}

// transfer records m; savepoint says Transfer set its savepoint first.
func (l *Ledger) transfer(ctx context.Context, tx *store.Tx, m Movement, savepoint bool) (Movement, error) {
	now := l.clock.Now().UTC()
	nowUS := store.Micros(now)
	res, err := tx.ExecContext(ctx, `INSERT INTO ledger_movements (id, kind, reference, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`, m.ID, m.Kind, m.Reference, nowUS)
	if err != nil {
		if !savepoint || !tx.Driver().IsUniqueViolation(err) {
			return Movement{}, fmt.Errorf("ledger: insert movement: %w", err)
		}
		// The reference is taken. On PostgreSQL a concurrent transaction
		// recording this very movement can win the race on the reference
		// index rather than on the id (ON CONFLICT only waits on the id):
		// undo the failed insert and look for the movement again.
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT ledger_transfer`); rerr != nil {
			return Movement{}, fmt.Errorf("ledger: rollback to savepoint: %w", rerr)
		}
		if _, gerr := l.Get(ctx, tx, m.ID); gerr == nil {
			return l.replay(ctx, tx, m)
		} else if !errors.Is(gerr, ErrNotFound) {
			return Movement{}, gerr
		}
		return Movement{}, referenceExists(m.Kind, m.Reference)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Movement{}, err
	} else if n == 0 {
		// Recorded before (perhaps by a concurrent transaction that has
		// just committed: ON CONFLICT waited for it).
		return l.replay(ctx, tx, m)
	}

	nets, err := netChanges(m.Postings)
	if err != nil {
		return Movement{}, err
	}
	inflow := userInflows(nets)
	for _, p := range nets {
		if p.Account.MayGoNegative() {
			continue // system accounts have no balance row; see Balance
		}
		id, _ := p.Account.UserID()
		capped := inflow[balanceKey{UserAccount(id), p.Currency}] > 0
		if err := applyBalance(ctx, tx, p, capped, nowUS); err != nil {
			return Movement{}, err
		}
	}

	var q strings.Builder
	q.WriteString(`INSERT INTO ledger_postings (movement_id, seq, account, currency, amount, created_at) VALUES `)
	args := []any{m.ID, nowUS}
	for i, p := range m.Postings {
		if i > 0 {
			q.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&q, "($1, $%d, $%d, $%d, $%d, $2)", n+1, n+2, n+3, n+4)
		args = append(args, i, string(p.Account), p.Currency, p.Amount)
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return Movement{}, fmt.Errorf("ledger: insert postings: %w", err)
	}
	m.Postings = append([]Posting(nil), m.Postings...)
	m.CreatedAt = store.Time(nowUS)
	m.Replayed = false
	return m, nil
}

// replay returns the recorded movement with m's ID, marked Replayed, if it
// records the same thing as m.
func (l *Ledger) replay(ctx context.Context, tx *store.Tx, m Movement) (Movement, error) {
	prev, err := l.Get(ctx, tx, m.ID)
	if err != nil {
		return Movement{}, fmt.Errorf("ledger: read replayed movement: %w", err)
	}
	if !sameContent(prev, m) {
		return Movement{}, idempotencyConflict(m.ID)
	}
	prev.Replayed = true
	return prev, nil
}

// userInflows sums nets (from netChanges) per user and currency over the
// user's two accounts, keyed by the user: account: what the movement
// brings to each user, available and held together. A reservation or a
// release brings nothing.
func userInflows(nets []Posting) map[balanceKey]int64 {
	out := map[balanceKey]int64{}
	for _, p := range nets {
		if id, ok := p.Account.UserID(); ok {
			k := balanceKey{UserAccount(id), p.Currency}
			s, ok := add(out[k], p.Amount)
			if !ok {
				s = math.MaxInt64 // only for amounts no balance can take
			}
			out[k] = s
		}
	}
	return out
}

// applyBalance adds p.Amount to a non-negative account's balance row, or
// fails without changing it. The WHERE clause is the overdraft check, so it
// holds under concurrency: PostgreSQL re-evaluates it on the latest row
// version after waiting for a concurrent writer; SQLite has one writer.
//
// capped says the movement brings the account's user money (userInflows):
// a credit must then leave what the user has, available and held, at
// most MaxBalance (a hold account credited from outside the user, which
// no flow does, is checked against MaxBalance alone). A movement within
// the user (a reservation, a release) is not refused for the cap, so a
// failed payment's money always goes back, even to a user beyond the cap
// (whom a ledger that capped each account alone may have left there).
func applyBalance(ctx context.Context, tx *store.Tx, p Posting, capped bool, nowUS int64) error {
	// A debit must leave the balance at least 0 (and may come from a
	// balance above MaxBalance); a credit must stay in the int64 range.
	lo, hi := int64(0), int64(math.MaxInt64)
	switch id, _ := p.Account.UserID(); {
	case p.Amount < 0:
		lo = -p.Amount
	case !capped:
		hi = math.MaxInt64 - p.Amount
	default:
		room := int64(MaxBalance)
		if p.Account == UserAccount(id) {
			held, err := lockHold(ctx, tx, HoldAccount(id), p.Currency, nowUS)
			if err != nil {
				return err
			}
			room -= held
		}
		if p.Amount > room {
			return fmt.Errorf("%w: %s %s", ErrOverflow, p.Account, p.Currency)
		}
		hi = room - p.Amount
	}
	update := func() (bool, error) {
		res, err := tx.ExecContext(ctx, `UPDATE ledger_balances SET balance = balance + $1, updated_at = $2
			WHERE account = $3 AND currency = $4 AND balance >= $5 AND balance <= $6`,
			p.Amount, nowUS, string(p.Account), p.Currency, lo, hi)
		if err != nil {
			return false, fmt.Errorf("ledger: update balance: %w", err)
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	ok, err := update()
	if err != nil || ok {
		return err
	}
	if p.Amount > 0 {
		// Probably no row yet: create it with this credit. If a concurrent
		// transaction created it first, ON CONFLICT waits for it and we
		// try the conditional update once more.
		res, err := tx.ExecContext(ctx, `INSERT INTO ledger_balances (account, currency, balance, updated_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (account, currency) DO NOTHING`,
			string(p.Account), p.Currency, p.Amount, nowUS)
		if err != nil {
			return fmt.Errorf("ledger: insert balance: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		if ok, err := update(); err != nil || ok {
			return err
		}
	}
	var bal int64
	err = tx.QueryRowContext(ctx, `SELECT balance FROM ledger_balances WHERE account = $1 AND currency = $2`,
		string(p.Account), p.Currency).Scan(&bal)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("ledger: read balance: %w", err)
	}
	if p.Amount > 0 {
		return fmt.Errorf("%w: %s %s", ErrOverflow, p.Account, p.Currency)
	}
	return insufficient(p.Account, p.Currency, bal, -p.Amount)
}

// lockHold returns hold's balance in currency and keeps it from changing
// until tx ends: it creates the row at zero if there is none, so there is
// always a row to lock. Every capped credit of a user account locks its
// hold row first, and every reservation and release changes that row, so
// such a credit
// reads the held amount and the available balance of one moment on
// PostgreSQL too (READ COMMITTED: the upsert waits for a concurrent
// writer and returns the row as it committed). netChanges sorts hold:
// before user:, so this lock order is that of every movement.
func lockHold(ctx context.Context, tx *store.Tx, hold Account, currency string, nowUS int64) (int64, error) {
	var held int64
	err := tx.QueryRowContext(ctx, `INSERT INTO ledger_balances (account, currency, balance, updated_at)
		VALUES ($1, $2, 0, $3) ON CONFLICT (account, currency) DO UPDATE SET balance = ledger_balances.balance
		RETURNING balance`, string(hold), currency, nowUS).Scan(&held)
	if err != nil {
		return 0, fmt.Errorf("ledger: lock held balance: %w", err)
	}
	return held, nil
}

// Get returns the recorded movement with the given ID, or an error wrapping
// ErrNotFound.
func (l *Ledger) Get(ctx context.Context, q store.Querier, id string) (Movement, error) {
	var (
		m  Movement
		us int64
	)
	err := q.QueryRowContext(ctx, `SELECT id, kind, reference, created_at FROM ledger_movements WHERE id = $1`, id).
		Scan(&m.ID, &m.Kind, &m.Reference, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return Movement{}, fmt.Errorf("%w: %s", ErrNotFound, vaspd.Truncate(id, 80))
	}
	if err != nil {
		return Movement{}, fmt.Errorf("ledger: read movement: %w", err)
	}
	m.CreatedAt = store.Time(us)
	rows, err := q.QueryContext(ctx, `SELECT account, currency, amount FROM ledger_postings
		WHERE movement_id = $1 ORDER BY seq`, id)
	if err != nil {
		return Movement{}, fmt.Errorf("ledger: read postings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Posting
		if err := rows.Scan(&p.Account, &p.Currency, &p.Amount); err != nil {
			return Movement{}, err
		}
		m.Postings = append(m.Postings, p)
	}
	return m, rows.Err()
}

// FindByReference returns the movement of the given kind and reference, or
// an error wrapping ErrNotFound. References are unique only for deposits and
// withdrawals; for other kinds the earliest matching movement is returned.
func (l *Ledger) FindByReference(ctx context.Context, q store.Querier, kind, reference string) (Movement, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM ledger_movements WHERE kind = $1 AND reference = $2
		ORDER BY created_at, id LIMIT 1`, kind, reference).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Movement{}, fmt.Errorf("%w: %s %s", ErrNotFound, kind, vaspd.Truncate(reference, 80))
	}
	if err != nil {
		return Movement{}, fmt.Errorf("ledger: find movement: %w", err)
	}
	return l.Get(ctx, q, id)
}
