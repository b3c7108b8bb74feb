package ledger

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/vaspd/vaspd/store"
)

// SystemBalances returns the balance of every system account in every
// currency it ever held, sorted by account and currency. System accounts
// have no balance rows (see Balances): it sums their postings in one
// statement, so the balances are of one snapshot of the ledger — they sum
// with the user and hold balances of that snapshot to zero.
func (l *Ledger) SystemBalances(ctx context.Context, q store.Querier) ([]Balance, error) {
	// As in Balances: sum high and low parts apart, so that neither
	// database's SUM can overflow, and read them as text.
	rows, err := q.QueryContext(ctx, `SELECT account, currency, CAST(SUM(amount / 1000000000) AS TEXT),
		CAST(SUM(amount % 1000000000) AS TEXT)
		FROM ledger_postings WHERE account LIKE 'system:%' GROUP BY account, currency ORDER BY account, currency`)
	if err != nil {
		return nil, fmt.Errorf("ledger: read system balances: %w", err)
	}
	defer rows.Close()
	var out []Balance
	for rows.Next() {
		var acct, cur, hi, lo string
		if err := rows.Scan(&acct, &cur, &hi, &lo); err != nil {
			return nil, err
		}
		b, err := readSum(Account(acct), cur, hi, lo, true)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// AccountBalances is one account's balances, one per currency.
type AccountBalances struct {
	Account  Account
	Balances []Balance
}

// BySystemAccount groups balances (as SystemBalances returns them) by
// account: every account of SystemAccounts first, in that order and with
// no balances if it never held any, then any other account among bs in the
// order met. GET /ledger/accounts and `vaspd ledger accounts` show this.
func BySystemAccount(bs []Balance) []AccountBalances {
	out := make([]AccountBalances, 0, len(SystemAccounts))
	index := map[Account]int{}
	for _, a := range SystemAccounts {
		index[a] = len(out)
		out = append(out, AccountBalances{Account: a})
	}
	for _, b := range bs {
		i, ok := index[b.Account]
		if !ok {
			i = len(out)
			index[b.Account] = i
			out = append(out, AccountBalances{Account: b.Account})
		}
		out[i].Balances = append(out[i].Balances, b)
	}
	return out
}

// Keep books amount of currency that the VASP holds for no one — in
// system:overpaid or system:unmatched — as the VASP's income in
// system:fees: the platform decided to keep it rather than refund it.
//
//	currency: from −amount, fees +amount
//
// Record it with TransferCovered, which refuses to take from more than
// the account holds.
func Keep(id string, from Account, currency string, amount int64, reference string) Movement {
	return build(id, "keep", reference).
		require(amount > 0, "amount must be positive").
		require(from == Overpaid || from == Unmatched, "keeps only take from system:overpaid or system:unmatched").
		add(from, currency, -amount).
		add(Fees, currency, amount).
		movement()
}

// TransferCovered records m as Transfer does, and also refuses, with
// ErrInsufficientFunds (a *vaspd.Error with code INSUFFICIENT_BALANCE), to
// take any system account it debits below zero. It is for movements out
// of accounts that hold money for someone (system:overpaid,
// system:unmatched), which have no balance row whose conditional UPDATE
// would refuse the overdraft.
//
// A movement already recorded under m's ID is replayed (or refused as a
// conflict) without the check: the money it took is gone from the
// balance, and the retry must still answer the first result.
func (l *Ledger) TransferCovered(ctx context.Context, tx *store.Tx, m Movement) (Movement, error) {
	if err := m.Validate(); err != nil {
		return Movement{}, err
	}
	nets, err := netChanges(m.Postings)
	if err != nil {
		return Movement{}, err
	}
	for _, p := range nets {
		if p.Amount >= 0 || !p.Account.MayGoNegative() {
			continue
		}
		// Serialise the movements that debit this account, so two
		// concurrent ones cannot both read the same balance and take it
		// twice: on PostgreSQL with a transaction-scoped advisory lock
		// (each statement of a READ COMMITTED transaction reads what
		// committed before it, so the sum below, read after the lock, sees
		// the previous holder's movement); SQLite's write transactions are
		// exclusive already. Credits need no lock: they only add.
		// netChanges sorted the postings, so locks are taken in one order.
		if tx.Driver().Name() == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryKey(p.Account, p.Currency)); err != nil {
				return Movement{}, fmt.Errorf("ledger: lock %s: %w", p.Account, err)
			}
		}
	}
	if _, err := l.Get(ctx, tx, m.ID); err == nil {
		return l.Transfer(ctx, tx, m) // a replay, or a conflict
	} else if !errors.Is(err, ErrNotFound) {
		return Movement{}, err
	}
	for _, p := range nets {
		if p.Amount >= 0 || !p.Account.MayGoNegative() {
			continue
		}
		bal, err := l.Balance(ctx, tx, p.Account, p.Currency)
		if err != nil {
			return Movement{}, err
		}
		if bal < -p.Amount {
			return Movement{}, insufficient(p.Account, p.Currency, max(bal, 0), -p.Amount)
		}
	}
	return l.Transfer(ctx, tx, m)
}

// advisoryKey is the PostgreSQL advisory lock key of an account's balance
// in one currency.
func advisoryKey(acct Account, currency string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("vaspd.ledger.balance:" + string(acct) + ":" + currency))
	return int64(h.Sum64())
}
