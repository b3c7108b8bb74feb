package paycrash

import (
	"context"
	"fmt"
	"net/url"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
)

// What the end reads of each VASP: through its platform API first (what a
// platform can see), then read-only SQL for what the API does not show.

// apiTx is a transaction as GET /transactions answers it.
type apiTx struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	Type           string     `json:"type"`
	UserID         string     `json:"userId"`
	QuoteID        string     `json:"quoteId"`
	Description    string     `json:"description"`
	SentAmount     *apiAmount `json:"sentAmount"`
	ReceivedAmount *apiAmount `json:"receivedAmount"`
}

type apiAmount struct {
	Amount   int64 `json:"amount"`
	Currency struct {
		Code string `json:"code"`
	} `json:"currency"`
}

// amountOf is a's amount in currency, or -1 if a is another currency or
// missing.
func amountOf(a *apiAmount, currency string) int64 {
	if a == nil || a.Currency.Code != currency {
		return -1
	}
	return a.Amount
}

// nodePayment is a sender node's record of a payment (by payment hash).
type nodePayment struct {
	Status   string
	Amount   int64
	Fee      int64
	Attempts int
}

// nodeInvoice is a receiver node's record of an invoice (by payment hash).
type nodeInvoice struct {
	State  string
	Amount int64
	Paid   int64
}

// view is what the end reads of one VASP.
type view struct {
	name string
	// Through the platform API.
	Txs      []apiTx
	Balances map[string]map[string][2]int64 // user id → currency → available, held
	System   map[string]map[string]int64    // system account → currency → balance
	// Through read-only SQL.
	TxHash       map[string]string                      // transaction id → payment hash
	Moves        map[string]map[string]map[string]int64 // ledger movement id → account → currency → amount
	NodePayments map[string]nodePayment                 // by payment hash
	Invoices     map[string]nodeInvoice                 // by payment hash
	NodeBalance  int64                                  // msats
	LedgerErr    error                                  // ledger.Check's verdict
	quoteHashes  [][2]string                            // quote id, payment hash

	// The sender's quotes of refresh and request payments, and their UMA
	// requests (observeExt).
	Quotes   map[string]apiQuote
	Requests map[string]apiRequest
}

// list reads every page of a platform list endpoint.
func list[T any](ctx context.Context, p *platform, path string) ([]T, error) {
	var all []T
	cursor := ""
	sep := "?"
	if u, err := url.Parse(path); err == nil && u.RawQuery != "" {
		sep = "&"
	}
	for {
		var page struct {
			Data       []T    `json:"data"`
			HasMore    bool   `json:"hasMore"`
			NextCursor string `json:"nextCursor"`
		}
		q := path + sep + "limit=100"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := p.call(ctx, "GET", q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if !page.HasMore {
			return all, nil
		}
		if page.NextCursor == "" || page.NextCursor == cursor {
			return nil, fmt.Errorf("%s GET %s: hasMore without a new nextCursor", p.name, path)
		}
		cursor = page.NextCursor
	}
}

// observe reads one VASP's end state.
func observe(ctx context.Context, p *platform, db *store.DB) (view, error) {
	v := view{name: p.name, Balances: map[string]map[string][2]int64{}, System: map[string]map[string]int64{},
		TxHash: map[string]string{}, Moves: map[string]map[string]map[string]int64{},
		NodePayments: map[string]nodePayment{}, Invoices: map[string]nodeInvoice{}}
	var err error
	if v.Txs, err = list[apiTx](ctx, p, "/transactions"); err != nil {
		return v, err
	}
	users, err := list[struct {
		ID string `json:"id"`
	}](ctx, p, "/users?isIncludingDeleted=true")
	if err != nil {
		return v, err
	}
	for _, u := range users {
		var b struct {
			Balances []struct {
				Currency struct {
					Code string `json:"code"`
				} `json:"currency"`
				Available int64 `json:"available"`
				Held      int64 `json:"held"`
			} `json:"balances"`
		}
		if err := p.call(ctx, "GET", "/users/"+url.PathEscape(u.ID)+"/balances", nil, &b); err != nil {
			return v, err
		}
		v.Balances[u.ID] = map[string][2]int64{}
		for _, x := range b.Balances {
			v.Balances[u.ID][x.Currency.Code] = [2]int64{x.Available, x.Held}
		}
	}
	var sys struct {
		Accounts []struct {
			Account  string `json:"account"`
			Balances []struct {
				Currency struct {
					Code string `json:"code"`
				} `json:"currency"`
				Amount int64 `json:"amount"`
			} `json:"balances"`
		} `json:"accounts"`
	}
	if err := p.call(ctx, "GET", "/ledger/accounts", nil, &sys); err != nil {
		return v, err
	}
	for _, a := range sys.Accounts {
		v.System[a.Account] = map[string]int64{}
		for _, b := range a.Balances {
			v.System[a.Account][b.Currency.Code] = b.Amount
		}
	}

	queries := []struct {
		q   string
		row func(scan func(...any) error) error
	}{
		{`SELECT id, COALESCE(payment_hash, '') FROM uma_transactions`, func(scan func(...any) error) error {
			var id, h string
			err := scan(&id, &h)
			v.TxHash[id] = h
			return err
		}},
		{`SELECT movement_id, account, currency, amount FROM ledger_postings`, func(scan func(...any) error) error {
			var id, acct, cur string
			var n int64
			if err := scan(&id, &acct, &cur, &n); err != nil {
				return err
			}
			if v.Moves[id] == nil {
				v.Moves[id] = map[string]map[string]int64{}
			}
			if v.Moves[id][acct] == nil {
				v.Moves[id][acct] = map[string]int64{}
			}
			v.Moves[id][acct][cur] += n
			return nil
		}},
		{`SELECT payment_hash, status, amount_msat, fee_msat, attempts FROM ln_embedded_payments`, func(scan func(...any) error) error {
			var h string
			var x nodePayment
			err := scan(&h, &x.Status, &x.Amount, &x.Fee, &x.Attempts)
			v.NodePayments[h] = x
			return err
		}},
		{`SELECT payment_hash, state, amount_msat, amount_paid_msat FROM ln_embedded_invoices`, func(scan func(...any) error) error {
			var h string
			var x nodeInvoice
			err := scan(&h, &x.State, &x.Amount, &x.Paid)
			v.Invoices[h] = x
			return err
		}},
		{`SELECT id, COALESCE(payment_hash, '') FROM uma_quotes`, func(scan func(...any) error) error {
			var x [2]string
			err := scan(&x[0], &x[1])
			v.quoteHashes = append(v.quoteHashes, x)
			return err
		}},
		{`SELECT balance_msat FROM ln_embedded_nodes`, func(scan func(...any) error) error {
			return scan(&v.NodeBalance)
		}},
	}
	for _, q := range queries {
		if err := query(ctx, db, q.q, q.row); err != nil {
			return v, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	v.LedgerErr = ledger.New(db, nil).Check(ctx, db)
	return v, nil
}

// query runs q, calling row for each row.
func query(ctx context.Context, db *store.DB, q string, row func(scan func(...any) error) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
