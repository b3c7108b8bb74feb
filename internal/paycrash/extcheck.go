package paycrash

import (
	"fmt"
	"sort"
	"time"
)

// The checks of auto-refresh quotes and UMA requests (extpay.go), besides
// those every payment gets (check).

// finalTerms returns pays with each executed auto-refresh payment's terms
// (Sending, Receiving, Msats) those its quote ended with, as GET
// /quotes/{id} shows them: a refresh renews them in place, and a quote is
// never refreshed once executed, so these are the terms executed; Quoted
// keeps those first quoted. The others are returned as they are.
func finalTerms(pays []*payment, quotes map[string]apiQuote) []*payment {
	out := make([]*payment, len(pays))
	for i, p := range pays {
		out[i] = p
		q, ok := quotes[p.QuoteID]
		if p.Kind != kindRefresh || !ok {
			continue
		}
		c := *p
		c.Quoted = [3]int64{p.Sending, p.Receiving, p.Msats}
		c.Sending, c.Receiving, c.Msats = q.TotalSendingAmount, q.TotalReceivingAmount, q.InvoiceAmountMsats
		out[i] = &c
	}
	return out
}

// extCheck checks, for auto-refresh quotes: each paid at most once (check:
// one transaction, one node payment), on the terms of the invoice it paid
// (the transaction's payment hash is the quote's last, the execute's
// answer its amounts), no invoice of superseded terms paid or credited,
// and refreshCount as the platform watched it and as the receiver was
// asked (one payreq each). For UMA requests: each paid at most once
// whatever its quotes' executes, GET /uma-requests/{id} saying so, a
// completed payment of the request's amount, and a refused execute (409
// QUOTE_ALREADY_EXECUTED) naming the other quote, which did execute.
func extCheck(o observed, t *tally) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	s, r := o.Sender, o.Receiver
	out := map[string][]apiTx{}
	for _, tx := range s.Txs {
		out[tx.QuoteID] = append(out[tx.QuoteID], tx)
	}
	in := map[string][]apiTx{}
	for _, tx := range r.Txs {
		in[tx.Description] = append(in[tx.Description], tx)
	}
	byRequest := map[string][]*payment{}
	for _, p := range o.Payments {
		switch p.Kind {
		case kindRefresh:
			bad = append(bad, checkRefresh(p, s, r, out[p.QuoteID], in[p.Tag], t)...)
		case kindRequest:
			byRequest[p.RequestID] = append(byRequest[p.RequestID], p)
		}
	}
	bad = append(bad, requestsAnnounced(o)...)
	for _, id := range o.Requests {
		t.Requests++
		var paid []apiTx
		credits := 0
		executes := 0
		for _, p := range byRequest[id] {
			if p.Attempts > 0 {
				executes++
			}
			for _, tx := range out[p.QuoteID] {
				if tx.Status == "COMPLETED" {
					paid = append(paid, tx)
					if got := amountOf(tx.ReceivedAmount, "EUR"); got != p.Amount {
						fail("UMA request %s: payment %s received %d EUR, the request asked %d", id, tx.ID, got, p.Amount)
					}
				}
			}
			for _, x := range in[p.Tag] {
				if x.Status == "COMPLETED" {
					credits++
				}
			}
			switch {
			case p.NotExecuted == "409 QUOTE_ALREADY_EXECUTED":
				t.SecondRefused++
				if !names(p.Refusal, p.Sibling) {
					fail("UMA request %s: the execute of quote %s was refused without naming the quote paying it (%s): %q",
						id, p.QuoteID, p.Sibling, p.Refusal)
				}
				if len(out[p.Sibling]) == 0 {
					fail("UMA request %s: the execute of quote %s was refused QUOTE_ALREADY_EXECUTED, yet no other quote of the request executed",
						id, p.QuoteID)
				}
			case len(out[p.QuoteID]) > 0 && len(out[p.Sibling]) > 0 && p.Key < keyOf(byRequest[id], p.Sibling):
				t.SecondPaid++
			}
		}
		if executes == 2 {
			t.DoubleExecutes++
		}
		for _, p := range byRequest[id] {
			switch p.Requote {
			case "", "refused":
				if p.Requote != "" {
					t.RequotesRefused++
				}
			default:
				fail("UMA request %s: POST /quotes made quote %s for it after a payment of it answered COMPLETED", id, p.Requote)
			}
		}
		if len(paid) > 1 {
			fail("UMA request %s paid %d times: %s", id, len(paid), describe(paid))
		}
		if credits > 1 {
			fail("UMA request %s credited %d times at the receiver", id, credits)
		}
		got, ok := s.Requests[id]
		switch {
		case !ok:
			fail("UMA request %s: not read at the end", id)
		case len(paid) == 1:
			t.RequestsPaid++
			if got.Status != "PAID" || got.TransactionID != paid[0].ID {
				fail("UMA request %s: paid by %s, yet GET /uma-requests/{id} says %s, transactionId %q", id, paid[0].ID, got.Status, got.TransactionID)
			}
		case !unpaidStatus(got) || got.TransactionID != "":
			fail("UMA request %s: no payment of it completed, yet GET /uma-requests/{id} says %s, transactionId %q (expires at %s, read %s to %s)",
				id, got.Status, got.TransactionID, got.ExpiresAt.Format(time.RFC3339Nano), got.readFrom.Format(time.RFC3339Nano),
				got.readTo.Format(time.RFC3339Nano))
		case got.Status == "EXPIRED":
			t.RequestsExpired++
		}
	}
	return bad
}

// checkRefresh checks auto-refresh payment p (its terms the last, see
// finalTerms), paid by txs and asked of the receiver as ins.
func checkRefresh(p *payment, s, r view, txs, ins []apiTx, t *tally) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	t.RefreshQuotes++
	q, ok := s.Quotes[p.QuoteID]
	if !ok {
		return []string{fmt.Sprintf("payment %d: auto-refresh quote %s not read at the end", p.N, p.QuoteID)}
	}
	t.Refreshes += q.RefreshCount
	if !q.AutoRefresh {
		fail("payment %d: quote %s was made with autoRefresh, yet shows autoRefresh false", p.N, p.QuoteID)
	}
	prev := 0
	for _, n := range p.SeenRefreshes {
		if n < prev || n > q.RefreshCount {
			fail("payment %d: quote %s showed refreshCount %v before its execute, and %d at the end", p.N, p.QuoteID, p.SeenRefreshes, q.RefreshCount)
			break
		}
		prev = n
	}
	// Each refresh asked the receiver for an invoice (one incoming
	// payment there, of the quote's description) before writing terms.
	if len(ins) < q.RefreshCount+1 {
		fail("payment %d: quote %s shows refreshCount %d, yet the receiver answered %d payreqs for it", p.N, p.QuoteID, q.RefreshCount, len(ins))
	}
	t.UnusedPayreqs += max(len(ins)-1-q.RefreshCount, 0)
	paid := ""
	if len(txs) == 1 {
		paid = s.TxHash[txs[0].ID]
		if q.RefreshCount > 0 {
			t.RefreshedExecuted++
		}
		if p.WaitRefreshes == raceRefresh && len(p.SeenRefreshes) > 0 {
			t.RacedExecutes++
		}
		if p.Quoted != [3]int64{p.Sending, p.Receiving, p.Msats} {
			t.TermsMoved++
		}
		if paid != q.PaymentHash {
			fail("payment %d: transaction %s paid %s, yet quote %s's terms are those of %s", p.N, txs[0].ID, paid, p.QuoteID, q.PaymentHash)
		}
		if q.TransactionID != txs[0].ID {
			fail("payment %d: quote %s names transaction %q, its transaction is %s", p.N, p.QuoteID, q.TransactionID, txs[0].ID)
		}
		for i := range p.AnsweredSent {
			if p.AnsweredSent[i] != p.Sending || p.AnsweredRecv[i] != p.Receiving {
				fail("payment %d: an execute of auto-refresh quote %s answered %d USD for %d EUR, the terms executed are %d USD for %d EUR",
					p.N, p.QuoteID, p.AnsweredSent[i], p.AnsweredRecv[i], p.Sending, p.Receiving)
			}
		}
	}
	// Superseded terms: their invoices never paid, never credited.
	for _, x := range ins {
		h := r.TxHash[x.ID]
		if h == "" || h == paid {
			continue
		}
		if inv := r.Invoices[h]; inv.State == "SETTLED" || x.Status == "COMPLETED" {
			fail("payment %d: the invoice %s of superseded terms of quote %s was paid (invoice %s, incoming %s %s)", p.N, h, p.QuoteID, inv.State, x.ID, x.Status)
		}
		if _, ok := r.Moves["receive/"+h]; ok {
			fail("payment %d: the receiver credited the invoice %s of superseded terms of quote %s", p.N, h, p.QuoteID)
		}
		if np, ok := s.NodePayments[h]; ok {
			fail("payment %d: the sender's node paid the invoice %s of superseded terms of quote %s (%s)", p.N, h, p.QuoteID, np.Status)
		}
	}
	return bad
}

// unpaidStatus reports whether r, which no payment completed, read with
// the status it may have had while read: EXPIRED from its expiry on,
// PENDING before.
func unpaidStatus(r apiRequest) bool {
	switch r.Status {
	case "EXPIRED":
		return !r.readTo.Before(r.ExpiresAt)
	case "PENDING":
		return r.readFrom.Before(r.ExpiresAt)
	}
	return false
}

// requestsAnnounced checks that each UMA request reached the sender's
// platform once: one UMA_REQUEST webhook (one webhookId), however often
// the receiving side sent it (request_pay retried after a kill).
func requestsAnnounced(o observed) []string {
	var bad []string
	seen := map[string]bool{}
	for _, id := range o.Requests {
		seen[id] = true
		if n := o.Hooks[hookKey{"sender", "UMA_REQUEST", id, ""}]; n != 1 {
			bad = append(bad, fmt.Sprintf("UMA request %s: the sender's platform got %d UMA_REQUEST webhooks (distinct webhookIds), want 1", id, n))
		}
	}
	for k, n := range o.Hooks {
		if k.Type == "UMA_REQUEST" && (k.To != "sender" || !seen[k.TxID]) {
			bad = append(bad, fmt.Sprintf("the %s's platform got %d UMA_REQUEST webhooks for %s, a request the driver did not make", k.To, n, k.TxID))
		}
	}
	sort.Strings(bad)
	return bad
}

// keyOf is the Idempotency-Key of the payment of quote id among pays.
func keyOf(pays []*payment, id string) string {
	for _, p := range pays {
		if p.QuoteID == id {
			return p.Key
		}
	}
	return ""
}
