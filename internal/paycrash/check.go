package paycrash

import (
	"fmt"
	"sort"
	"strings"
)

// The house rule, checked once every payment has ended: a crash at any
// line leaves nothing half-done after the restart, and every money
// movement is idempotent and double-entry.

// observed is everything the check looks at.
type observed struct {
	Alice, Bob      string // the sender's and the receiver's user ids
	Funding         int64  // the first deposit, USD cents
	InitialNodeMsat int64  // each node's opening balance
	Payments        []*payment
	Deposits        []*deposit
	Sender          view
	Receiver        view
	Hooks           map[hookKey]int // distinct webhookIds the platforms received, by subject
	Requests        []string        // the UMA requests the driver made
}

// tally is what the check counted on the way.
type tally struct {
	Executed, Completed, Failed, NotExecuted int
	RetriedExecutes                          int // executes answered only after an attempt without an answer
	LostAnswers                              int // execute attempts whose answer was lost (sent, connection cut)
	LightningRedelivered                     int // sender node payments delivered in more than one attempt

	// Auto-refresh quotes (extCheck): quotes made, executed after one
	// refresh or more, refreshes (their refreshCounts), and executes on
	// other terms than first quoted.
	RefreshQuotes, RefreshedExecuted, Refreshes, TermsMoved int
	// Executes sent as a refresh was under way, and refreshes whose new
	// invoice was left unused (superseded by an execute, or cut).
	RacedExecutes, UnusedPayreqs int
	// UMA requests: requests, paid, with both quotes executed, of which
	// the second was refused (409 QUOTE_ALREADY_EXECUTED) or paid too
	// after the first payment failed.
	Requests, RequestsPaid, DoubleExecutes, SecondRefused, SecondPaid int
	RequotesRefused                                                   int // POST /quotes for a paid request, refused
	RequestsExpired                                                   int // unpaid at their (short) expiry
}

// check returns every broken promise, sorted, and the counts.
func check(o observed) ([]string, tally) {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	var t tally
	s, r := o.Sender, o.Receiver
	// An auto-refresh quote is executed on its last terms, not those
	// quoted first.
	o.Payments = finalTerms(o.Payments, s.Quotes)

	outByQuote := map[string][]apiTx{}
	for _, tx := range s.Txs {
		switch {
		case tx.Type != "OUTGOING":
			fail("sender: transaction %s is %s: the sender's users only pay", tx.ID, tx.Type)
		default:
			outByQuote[tx.QuoteID] = append(outByQuote[tx.QuoteID], tx)
		}
	}
	inByTag := map[string][]apiTx{}
	for _, tx := range r.Txs {
		if tx.Type != "INCOMING" {
			fail("receiver: transaction %s is %s: the receiver's users only receive", tx.ID, tx.Type)
			continue
		}
		inByTag[tx.Description] = append(inByTag[tx.Description], tx)
	}

	completedHashes := map[string]bool{}
	executedQuotes := map[string]bool{}
	completedTags := map[string]bool{}
	paidHashes := map[string]bool{} // the sender's payments' hashes, whatever their end
	var sent, received int64
	for _, p := range o.Payments {
		executedQuotes[p.QuoteID] = true
		txs := outByQuote[p.QuoteID]
		if len(p.TxIDs) == 0 {
			if p.NotExecuted == "" {
				fail("payment %d: the execute of %s was never answered (%d attempts)", p.N, p.QuoteID, p.Attempts)
			} else {
				t.NotExecuted++
			}
			if len(txs) > 0 {
				fail("payment %d: quote %s has transaction %s, yet its execute answered %s", p.N, p.QuoteID, txs[0].ID, p.NotExecuted)
			}
			continue
		}
		t.Executed++
		if p.Attempts > 1 && (p.Lost > 0 || p.Refused > 0) {
			t.RetriedExecutes++
		}
		t.LostAnswers += p.Lost
		id := p.TxIDs[0]
		for _, other := range p.TxIDs[1:] {
			if other != id {
				fail("payment %d: executes of quote %s with one key answered two transactions, %s and %s", p.N, p.QuoteID, id, other)
			}
		}
		if len(txs) != 1 {
			fail("payment %d: quote %s has %d outgoing transactions, want exactly 1", p.N, p.QuoteID, len(txs))
			continue
		}
		tx := txs[0]
		if tx.ID != id {
			fail("payment %d: quote %s's transaction is %s, its execute answered %s", p.N, p.QuoteID, tx.ID, id)
		}
		if tx.UserID != o.Alice || amountOf(tx.SentAmount, "USD") != p.Sending || amountOf(tx.ReceivedAmount, "EUR") != p.Receiving {
			fail("payment %d: transaction %s of user %s sent %d USD for %d EUR, quoted %d USD for %d EUR to %s",
				p.N, tx.ID, tx.UserID, amountOf(tx.SentAmount, "USD"), amountOf(tx.ReceivedAmount, "EUR"), p.Sending, p.Receiving, o.Alice)
		}
		for _, st := range p.Statuses {
			if (st == "COMPLETED" || st == "FAILED") && st != tx.Status {
				fail("payment %d: transaction %s was answered %s and ended %s", p.N, tx.ID, st, tx.Status)
			}
		}
		h := s.TxHash[tx.ID]
		if h == "" {
			fail("payment %d: transaction %s has no payment hash in the sender's database", p.N, tx.ID)
			continue
		}
		paidHashes[h] = true
		if np := s.NodePayments[h]; np.Attempts > 1 {
			t.LightningRedelivered++
		}
		if got := s.Moves["reserve/"+h]["user:"+o.Alice]["USD"]; got != -p.Sending {
			fail("payment %d: reserved %d USD from the sender's user, want %d", p.N, -got, p.Sending)
		}
		settle, settled := s.Moves["settle/"+h]
		release, released := s.Moves["release/"+h]
		receive, credited := r.Moves["receive/"+h]
		inv, np := r.Invoices[h], s.NodePayments[h]
		in := inByTag[p.Tag]
		switch tx.Status {
		case "COMPLETED":
			t.Completed++
			completedHashes[h], completedTags[p.Tag] = true, true
			sent += p.Sending
			received += p.Receiving
			if !settled || released || settle["hold:"+o.Alice]["USD"] != -p.Sending {
				fail("payment %d: completed, yet the sender's books have settle %v (from the hold: %d USD, want %d), release %v",
					p.N, settled, -settle["hold:"+o.Alice]["USD"], p.Sending, released)
			}
			// A refreshed quote left the receiver an incoming payment per
			// payreq, the superseded ones never COMPLETED (extCheck).
			var done []apiTx
			for _, x := range in {
				if x.Status == "COMPLETED" {
					done = append(done, x)
				}
			}
			if (len(in) != 1 && p.Kind != kindRefresh) || len(done) != 1 || done[0].UserID != o.Bob ||
				amountOf(done[0].ReceivedAmount, "EUR") != p.Receiving || r.TxHash[done[0].ID] != h {
				fail("payment %d: completed, yet the receiver has %s for it, want one COMPLETED credit of %d EUR to %s for %s",
					p.N, describe(in), p.Receiving, o.Bob, h)
			}
			if !credited || receive["user:"+o.Bob]["EUR"] != p.Receiving {
				fail("payment %d: completed, yet the receiver's books credited %d EUR (movement %v), want %d",
					p.N, receive["user:"+o.Bob]["EUR"], credited, p.Receiving)
			}
			if np.Status != "SUCCEEDED" || np.Amount != p.Msats {
				fail("payment %d: completed, yet the sender's node has %+v, want SUCCEEDED for %d msats", p.N, np, p.Msats)
			}
			if inv.State != "SETTLED" || inv.Paid != p.Msats {
				fail("payment %d: completed, yet the receiver's node has the invoice %+v, want SETTLED, paid %d msats", p.N, inv, p.Msats)
			}
		case "FAILED":
			t.Failed++
			if settled || !released || release["user:"+o.Alice]["USD"] != p.Sending {
				fail("payment %d: failed, yet the sender's books have settle %v, release %v of %d USD (want %d): the user is not refunded exactly",
					p.N, settled, released, release["user:"+o.Alice]["USD"], p.Sending)
			}
			for _, x := range in {
				if x.Status == "COMPLETED" {
					fail("payment %d: failed at the sender, yet the receiver credited it (%s)", p.N, x.ID)
				}
			}
			if credited || inv.State == "SETTLED" {
				fail("payment %d: failed at the sender, yet the receiver's books credited it (%v) or its node settled the invoice (%s)",
					p.N, credited, inv.State)
			}
			if np.Status == "SUCCEEDED" || np.Status == "IN_FLIGHT" {
				fail("payment %d: failed, yet the sender's node has its payment %s", p.N, np.Status)
			}
		default:
			fail("payment %d: transaction %s is still %s", p.N, tx.ID, tx.Status)
		}
	}
	for q, txs := range outByQuote {
		if !executedQuotes[q] {
			for _, tx := range txs {
				fail("sender: transaction %s (%s) pays quote %s, which no execute of the platform's answered", tx.ID, tx.Status, q)
			}
		}
	}
	for tag, txs := range inByTag {
		for _, tx := range txs {
			if tx.Status == "COMPLETED" && !completedTags[tag] {
				fail("receiver: transaction %s (%q) credited %d EUR for no completed payment", tx.ID, tag, amountOf(tx.ReceivedAmount, "EUR"))
			}
		}
	}

	// Deposits: each once, whatever its retries.
	deposited := o.Funding
	for _, d := range o.Deposits {
		if len(d.IDs) == 0 {
			fail("deposit %s was never answered (%d attempts)", d.Key, d.Attempts)
			continue
		}
		for _, id := range d.IDs[1:] {
			if id != d.IDs[0] {
				fail("deposit %s answered two movements, %s and %s", d.Key, d.IDs[0], id)
			}
		}
		deposited += d.Amount
	}
	deposits := 0
	for id := range s.Moves {
		if strings.HasPrefix(id, "deposit/") {
			deposits++
		}
	}
	if answered := 1 + len(o.Deposits); deposits != answered {
		fail("sender: %d deposit movements, for %d deposits answered", deposits, answered)
	}

	// Balances.
	if b := s.Balances[o.Alice]["USD"]; b != [2]int64{deposited - sent, 0} {
		fail("sender's user holds %d USD (and %d held), want deposits %d − completed payments %d = %d",
			b[0], b[1], deposited, sent, deposited-sent)
	}
	if b := r.Balances[o.Bob]["EUR"]; b != [2]int64{received, 0} {
		fail("receiver's user holds %d EUR (and %d held), want the %d credited by completed payments", b[0], b[1], received)
	}

	// The books and the nodes of each VASP.
	for _, v := range []view{s, r} {
		bad = append(bad, books(v)...)
	}
	var spent, got int64
	for h, np := range s.NodePayments {
		switch {
		case np.Status == "SUCCEEDED":
			spent += np.Amount + np.Fee
			if !completedHashes[h] {
				fail("sender: its node paid %s (%d msats), which no completed payment paid", h, np.Amount)
			}
		case np.Status == "IN_FLIGHT":
			fail("sender: its node's payment %s is still in flight", h)
		}
	}
	if o.InitialNodeMsat-s.NodeBalance != spent || s.System["system:node"]["BTC"] != spent {
		fail("sender: its node spent %d msats (opening %d, now %d), its payments %d, its books' system:node %d",
			o.InitialNodeMsat-s.NodeBalance, o.InitialNodeMsat, s.NodeBalance, spent, s.System["system:node"]["BTC"])
	}
	for h, inv := range r.Invoices {
		if inv.State != "SETTLED" {
			continue
		}
		got += inv.Paid
		if !completedHashes[h] {
			fail("receiver: its node settled %s (%d msats), which no completed payment paid", h, inv.Paid)
		}
		if inv.Paid != inv.Amount {
			fail("receiver: invoice %s of %d msats was paid %d", h, inv.Amount, inv.Paid)
		}
	}
	if r.NodeBalance-o.InitialNodeMsat != got || -r.System["system:node"]["BTC"] != got {
		fail("receiver: its node received %d msats (opening %d, now %d), its settled invoices %d, its books' system:node %d",
			r.NodeBalance-o.InitialNodeMsat, o.InitialNodeMsat, r.NodeBalance, got, -r.System["system:node"]["BTC"])
	}
	// No movement of a payment the platform did not make.
	for id := range s.Moves {
		if kind, h, _ := strings.Cut(id, "/"); (kind == "reserve" || kind == "settle" || kind == "release") && !paidHashes[h] {
			fail("sender: movement %s of no payment", id)
		}
	}
	for id := range r.Moves {
		if kind, h, _ := strings.Cut(id, "/"); kind == "receive" && !completedHashes[h] {
			fail("receiver: movement %s credits no completed payment", id)
		}
	}
	bad = append(bad, announced(o)...)
	bad = append(bad, extCheck(o, &t)...)
	sort.Strings(bad)
	return bad, t
}

// announced checks that each payment's end reached its platforms once:
// the sender's platform one OUTGOING_PAYMENT webhook (one webhookId,
// however many deliveries) of the status the payment ended in and none of
// the other; the receiver's one INCOMING_PAYMENT COMPLETED for a completed
// payment, none for a failed one, and none for a payment that did not
// complete.
func announced(o observed) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	final := map[string]string{} // the sender's transactions' ends
	for _, tx := range o.Sender.Txs {
		final[tx.ID] = tx.Status
	}
	inByTag := map[string][]apiTx{}
	for _, tx := range o.Receiver.Txs {
		inByTag[tx.Description] = append(inByTag[tx.Description], tx)
	}
	completedIn := map[string]bool{}
	for _, p := range o.Payments {
		if len(p.TxIDs) == 0 {
			continue
		}
		id, end := p.TxIDs[0], final[p.TxIDs[0]]
		for _, st := range []string{"COMPLETED", "FAILED"} {
			n, want := o.Hooks[hookKey{"sender", "OUTGOING_PAYMENT", id, st}], 0
			if st == end {
				want = 1
			}
			if n != want {
				fail("payment %d: the sender's platform got %d OUTGOING_PAYMENT %s webhooks (distinct webhookIds) for %s, which ended %s; want %d",
					p.N, n, st, id, end, want)
			}
		}
		for _, in := range inByTag[p.Tag] {
			n, want := o.Hooks[hookKey{"receiver", "INCOMING_PAYMENT", in.ID, "COMPLETED"}], 0
			if end == "COMPLETED" && in.Status == "COMPLETED" {
				want = 1
				completedIn[in.ID] = true
			}
			if n != want {
				fail("payment %d: the receiver's platform got %d INCOMING_PAYMENT COMPLETED webhooks (distinct webhookIds) for %s (%s), the payment ended %s; want %d",
					p.N, n, in.ID, in.Status, end, want)
			}
		}
	}
	for k, n := range o.Hooks {
		if k.To == "receiver" && k.Type == "INCOMING_PAYMENT" && k.Status == "COMPLETED" && !completedIn[k.TxID] {
			fail("the receiver's platform got %d INCOMING_PAYMENT COMPLETED webhooks for %s, credited by no completed payment", n, k.TxID)
		}
	}
	sort.Strings(bad)
	return bad
}

// books checks that a VASP's books balance: its own audit (ledger.Check:
// postings sum to zero per currency and per movement, balances agree with
// their postings, none negative), and, through the platform API, every
// currency's system accounts and users' balances summing to zero.
func books(v view) []string {
	var bad []string
	if v.LedgerErr != nil {
		bad = append(bad, fmt.Sprintf("%s: %v", v.name, v.LedgerErr))
	}
	sum := map[string]int64{}
	for _, bs := range v.System {
		for c, n := range bs {
			sum[c] += n
		}
	}
	for _, bs := range v.Balances {
		for c, b := range bs {
			sum[c] += b[0] + b[1]
			if b[0] < 0 || b[1] < 0 {
				bad = append(bad, fmt.Sprintf("%s: a user's %s balance is negative: %v", v.name, c, b))
			}
		}
	}
	for c, n := range sum {
		if n != 0 {
			bad = append(bad, fmt.Sprintf("%s: the system accounts and the users' balances in %s sum to %d, not zero", v.name, c, n))
		}
	}
	return bad
}

// describe lists transactions briefly for a message.
func describe(txs []apiTx) string {
	if len(txs) == 0 {
		return "no transaction"
	}
	var out []string
	for _, tx := range txs {
		out = append(out, fmt.Sprintf("%s %s %d EUR for %s", tx.ID, tx.Status, amountOf(tx.ReceivedAmount, "EUR"), tx.UserID))
	}
	return strings.Join(out, "; ")
}
