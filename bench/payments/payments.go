package main

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// payer drives vasp1's platform API to pay $bob at vasp2, as a platform
// integrating vaspd would.
type payer struct {
	v1       *instance
	userID   string
	receiver string // $bob@vasp2
}

func (p payer) lookup(ctx context.Context) (string, error) {
	var l struct {
		LookupID string `json:"lookupId"`
	}
	err := p.v1.call(ctx, "GET", "/receiver/"+url.PathEscape(p.receiver)+"?userId="+url.QueryEscape(p.userID), nil, &l)
	if err == nil && l.LookupID == "" {
		err = fmt.Errorf("lookup answered no lookupId")
	}
	return l.LookupID, err
}

func (p payer) quote(ctx context.Context, lookupID string) (string, error) {
	var q struct {
		QuoteID string `json:"quoteId"`
	}
	err := p.v1.call(ctx, "POST", "/quotes", map[string]any{
		"lookupId": lookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": 10_00, "description": "bench",
	}, &q)
	if err == nil && q.QuoteID == "" {
		err = fmt.Errorf("quote answered no quoteId")
	}
	return q.QuoteID, err
}

// execute pays a quote and insists that the payment completed.
func (p payer) execute(ctx context.Context, quoteID string) error {
	var tx struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := p.v1.call(ctx, "POST", "/quotes/"+quoteID+"/execute", nil, &tx, "Idempotency-Key", "bench-"+quoteID); err != nil {
		return err
	}
	if tx.Status != "COMPLETED" {
		return fmt.Errorf("execute of %s answered %s %s, not COMPLETED", quoteID, tx.ID, tx.Status)
	}
	return nil
}

// paymentResult holds the latencies of the payment flows, one at a time.
type paymentResult struct {
	Quote   latencies // POST /quotes (the payreq round trip included)
	Execute latencies // POST /quotes/{id}/execute of a prepared quote
	Lookup  latencies // GET /receiver/{address}
	Full    latencies // lookup + quote + execute
}

// runPayments prepares n quotes and executes them one by one, then makes
// full payments (lookup, quote, execute) until full are done. Preparing
// stops after a third of max, executing after two thirds, full payments at
// max. profile wraps the execute phase.
func runPayments(ctx context.Context, p payer, n, full int, max time.Duration, profile func(func() error) error) (paymentResult, error) {
	var res paymentResult
	began := time.Now()
	deadline := began.Add(max)
	lookupID, err := p.lookup(ctx)
	if err != nil {
		return res, err
	}
	quotes := make([]string, 0, n)
	for len(quotes) < n && time.Since(began) < max/3 {
		t0 := time.Now()
		id, err := p.quote(ctx, lookupID)
		if err != nil {
			return res, err
		}
		res.Quote = append(res.Quote, time.Since(t0))
		quotes = append(quotes, id)
	}
	err = profile(func() error {
		for _, id := range quotes {
			if time.Since(began) > max*2/3 {
				break
			}
			t0 := time.Now()
			if err := p.execute(ctx, id); err != nil {
				return err
			}
			res.Execute = append(res.Execute, time.Since(t0))
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for i := 0; i < full && time.Now().Before(deadline); i++ {
		t0 := time.Now()
		l, err := p.lookup(ctx)
		if err != nil {
			return res, err
		}
		res.Lookup = append(res.Lookup, time.Since(t0))
		q, err := p.quote(ctx, l)
		if err != nil {
			return res, err
		}
		if err := p.execute(ctx, q); err != nil {
			return res, err
		}
		res.Full = append(res.Full, time.Since(t0))
	}
	return res, nil
}
