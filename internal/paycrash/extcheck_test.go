package paycrash

import (
	"strings"
	"testing"
	"time"
)

// completed adds to o, consistently, a payment p completed on hash h
// (p's terms), its sender transaction tx and the receiver's incoming in.
func completed(o *observed, p *payment, tx, in, h string) {
	usd := func(n int64) *apiAmount { x := &apiAmount{Amount: n}; x.Currency.Code = "USD"; return x }
	eur := func(n int64) *apiAmount { x := &apiAmount{Amount: n}; x.Currency.Code = "EUR"; return x }
	s, r, a, b := &o.Sender, &o.Receiver, o.Alice, o.Bob
	o.Payments = append(o.Payments, p)
	s.Txs = append(s.Txs, apiTx{ID: tx, Status: "COMPLETED", Type: "OUTGOING", UserID: a, QuoteID: p.QuoteID,
		SentAmount: usd(p.Sending), ReceivedAmount: eur(p.Receiving)})
	r.Txs = append(r.Txs, apiTx{ID: in, Status: "COMPLETED", Type: "INCOMING", UserID: b, Description: p.Tag, ReceivedAmount: eur(p.Receiving)})
	s.TxHash[tx], r.TxHash[in] = h, h
	bal := s.Balances[a]["USD"]
	s.Balances[a]["USD"] = [2]int64{bal[0] - p.Sending, 0}
	s.System["system:fx"]["USD"] += p.Sending
	s.System["system:fx"]["BTC"] -= p.Msats
	s.System["system:node"]["BTC"] += p.Msats
	s.Moves["reserve/"+h] = map[string]map[string]int64{"user:" + a: {"USD": -p.Sending}, "hold:" + a: {"USD": p.Sending}}
	s.Moves["settle/"+h] = map[string]map[string]int64{"hold:" + a: {"USD": -p.Sending},
		"system:fx": {"USD": p.Sending, "BTC": -p.Msats}, "system:node": {"BTC": p.Msats}}
	s.NodePayments[h] = nodePayment{Status: "SUCCEEDED", Amount: p.Msats, Attempts: 1}
	s.NodeBalance -= p.Msats
	r.Balances[b]["EUR"] = [2]int64{r.Balances[b]["EUR"][0] + p.Receiving, 0}
	r.System["system:node"]["BTC"] -= p.Msats
	r.System["system:fx"]["BTC"] += p.Msats
	r.System["system:fx"]["EUR"] -= p.Receiving
	r.Moves["receive/"+h] = map[string]map[string]int64{"system:node": {"BTC": -p.Msats},
		"system:fx": {"BTC": p.Msats, "EUR": -p.Receiving}, "user:" + b: {"EUR": p.Receiving}}
	r.Invoices[h] = nodeInvoice{State: "SETTLED", Amount: p.Msats, Paid: p.Msats}
	r.NodeBalance += p.Msats
	o.Hooks[hookKey{"sender", "OUTGOING_PAYMENT", tx, "COMPLETED"}] = 1
	o.Hooks[hookKey{"receiver", "INCOMING_PAYMENT", in, "COMPLETED"}] = 1
}

// pendingIn adds the receiver's incoming payment in, never paid, of
// description tag and invoice h: a payreq whose invoice nobody paid.
func pendingIn(o *observed, in, tag, h string) {
	x := &apiAmount{Amount: 1}
	x.Currency.Code = "EUR"
	o.Receiver.Txs = append(o.Receiver.Txs, apiTx{ID: in, Status: "PENDING", Type: "INCOMING", UserID: o.Bob, Description: tag, ReceivedAmount: x})
	o.Receiver.TxHash[in] = h
	o.Receiver.Invoices[h] = nodeInvoice{State: "OPEN", Amount: 1}
}

// extWorld is world() plus an auto-refresh quote refreshed once (its first
// invoice h3a superseded) and executed on its new terms (h3b, other
// amounts), and an UMA request R1 paid by quote Q4, whose twin Q5 was
// refused, then quoted again and refused.
func extWorld() observed {
	o := world()
	o.Sender.Quotes, o.Sender.Requests = map[string]apiQuote{}, map[string]apiRequest{}
	p3 := &payment{N: 3, Tag: "t3", Key: "k3", QuoteID: "Q3", Side: "SENDING", Kind: kindRefresh, WaitRefreshes: 1,
		SeenRefreshes: []int{0, 1}, Sending: 300, Receiving: 270, Msats: 3_000_000,
		Attempts: 1, TxIDs: []string{"T3"}, Statuses: []string{"COMPLETED"}, AnsweredSent: []int64{300}, AnsweredRecv: []int64{268}}
	completed(&o, &payment{Tag: "t3", QuoteID: "Q3", Sending: 300, Receiving: 268, Msats: 3_010_000}, "T3", "I3b", "h3b")
	o.Payments[len(o.Payments)-1] = p3 // as the platform saw it: first quoted 270 EUR
	pendingIn(&o, "I3a", "t3", "h3a")
	o.Sender.Quotes["Q3"] = apiQuote{Status: "COMPLETED", TotalSendingAmount: 300, TotalReceivingAmount: 268, InvoiceAmountMsats: 3_010_000,
		TransactionID: "T3", AutoRefresh: true, RefreshCount: 1, PaymentHash: "h3b"}

	p4 := &payment{N: 4, Tag: "t4", Key: "k4", QuoteID: "Q4", Side: "RECEIVING", Kind: kindRequest, RequestID: "R1", Amount: 150,
		Sibling: "Q5", Requote: "refused", Sending: 166, Receiving: 150, Msats: 1_650_000,
		Attempts: 1, TxIDs: []string{"T4"}, Statuses: []string{"COMPLETED"}, AnsweredSent: []int64{166}, AnsweredRecv: []int64{150}}
	completed(&o, p4, "T4", "I4", "h4")
	p5 := &payment{N: 4, Tag: "t4b", Key: "k4.b", QuoteID: "Q5", Side: "RECEIVING", Kind: kindRequest, RequestID: "R1", Amount: 150,
		Sibling: "Q4", Sending: 166, Receiving: 150, Msats: 1_650_000, Attempts: 2, Lost: 1,
		NotExecuted: "409 QUOTE_ALREADY_EXECUTED", Refusal: "UMA request R1 is already paid or being paid by quote Q4"}
	o.Payments = append(o.Payments, p5)
	pendingIn(&o, "I5", "t4b", "h5")
	o.Sender.Quotes["Q4"] = apiQuote{Status: "COMPLETED", TotalSendingAmount: 166, TotalReceivingAmount: 150, InvoiceAmountMsats: 1_650_000, TransactionID: "T4", PaymentHash: "h4"}
	o.Sender.Quotes["Q5"] = apiQuote{Status: "PENDING", TotalSendingAmount: 166, TotalReceivingAmount: 150, InvoiceAmountMsats: 1_650_000, PaymentHash: "h5"}
	o.Sender.Requests["R1"] = apiRequest{ID: "R1", Amount: 150, Currency: "EUR", Status: "PAID", TransactionID: "T4"}
	o.Hooks[hookKey{"sender", "UMA_REQUEST", "R1", ""}] = 1
	o.Requests = []string{"R1"}
	read := time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC)
	o.Sender.Requests["R1"] = apiRequest{ID: "R1", Amount: 150, Currency: "EUR", Status: "PAID", TransactionID: "T4",
		ExpiresAt: read.Add(-time.Second), // expired since it was paid: PAID all the same
		readFrom:  read, readTo: read.Add(time.Millisecond)}
	return o
}

func TestCheckConsistentExtWorld(t *testing.T) {
	bad, n := check(extWorld())
	if len(bad) > 0 {
		t.Fatalf("a consistent end is reported broken:\n%s", strings.Join(bad, "\n"))
	}
	want := tally{Executed: 4, Completed: 3, Failed: 1, NotExecuted: 1, RetriedExecutes: 1, LostAnswers: 1, LightningRedelivered: 1,
		RefreshQuotes: 1, RefreshedExecuted: 1, Refreshes: 1, TermsMoved: 1,
		Requests: 1, RequestsPaid: 1, DoubleExecutes: 1, SecondRefused: 1, RequotesRefused: 1}
	if n != want {
		t.Errorf("counted %+v, want %+v", n, want)
	}
}

// TestCheckFindsBrokenExtPromises breaks the auto-refresh and UMA request
// promises of a consistent end one at a time: the check must say so.
func TestCheckFindsBrokenExtPromises(t *testing.T) {
	pay := func(o *observed, q string) *payment {
		for _, p := range o.Payments {
			if p.QuoteID == q {
				return p
			}
		}
		panic(q)
	}
	eur := func(n int64) *apiAmount { x := &apiAmount{Amount: n}; x.Currency.Code = "EUR"; return x }
	for _, c := range []struct {
		name  string
		spoil func(o *observed)
		want  string
	}{
		{"paid an invoice of superseded terms", func(o *observed) {
			q := o.Sender.Quotes["Q3"]
			q.PaymentHash = "h3a"
			o.Sender.Quotes["Q3"] = q
		}, "transaction T3 paid h3b, yet quote Q3's terms are those of h3a"},
		{"debited other terms than the quote's last", func(o *observed) {
			q := o.Sender.Quotes["Q3"]
			q.TotalReceivingAmount = 270
			o.Sender.Quotes["Q3"] = q
		}, "sent 300 USD for 268 EUR, quoted 300 USD for 270 EUR"},
		{"execute answered other terms", func(o *observed) { pay(o, "Q3").AnsweredRecv = []int64{270} },
			"answered 300 USD for 270 EUR, the terms executed are 300 USD for 268 EUR"},
		{"superseded invoice settled", func(o *observed) {
			o.Receiver.Invoices["h3a"] = nodeInvoice{State: "SETTLED", Amount: 1, Paid: 1}
		}, "the invoice h3a of superseded terms of quote Q3 was paid"},
		{"superseded invoice credited", func(o *observed) {
			o.Receiver.Moves["receive/h3a"] = map[string]map[string]int64{}
		}, "the receiver credited the invoice h3a of superseded terms"},
		{"superseded invoice paid by the node", func(o *observed) {
			o.Sender.NodePayments["h3a"] = nodePayment{Status: "FAILED", Amount: 1}
		}, "the sender's node paid the invoice h3a of superseded terms"},
		{"refreshCount went back", func(o *observed) { pay(o, "Q3").SeenRefreshes = []int{1, 0} }, "showed refreshCount [1 0]"},
		{"refreshCount beyond the payreqs", func(o *observed) {
			q := o.Sender.Quotes["Q3"]
			q.RefreshCount = 2
			o.Sender.Quotes["Q3"] = q
		}, "shows refreshCount 2, yet the receiver answered 2 payreqs"},
		{"autoRefresh lost", func(o *observed) {
			q := o.Sender.Quotes["Q3"]
			q.AutoRefresh = false
			o.Sender.Quotes["Q3"] = q
		}, "shows autoRefresh false"},
		{"request paid twice", func(o *observed) {
			p := pay(o, "Q5")
			p.NotExecuted, p.Refusal, p.TxIDs, p.Statuses = "", "", []string{"T5"}, []string{"COMPLETED"}
			o.Sender.Txs = append(o.Sender.Txs, apiTx{ID: "T5", Status: "COMPLETED", Type: "OUTGOING", UserID: o.Alice, QuoteID: "Q5",
				ReceivedAmount: eur(150)})
		}, "UMA request R1 paid 2 times"},
		{"request credited twice", func(o *observed) { o.Receiver.Txs[len(o.Receiver.Txs)-1].Status = "COMPLETED" },
			"UMA request R1 credited 2 times"},
		{"request paid, shown unpaid", func(o *observed) {
			r := o.Sender.Requests["R1"]
			r.Status = "PENDING"
			o.Sender.Requests["R1"] = r
		}, "paid by T4, yet GET /uma-requests/{id} says PENDING"},
		{"request names another payment", func(o *observed) {
			r := o.Sender.Requests["R1"]
			r.TransactionID = "T9"
			o.Sender.Requests["R1"] = r
		}, `says PAID, transactionId "T9"`},
		{"request unpaid, shown paid", func(o *observed) {
			o.Sender.Txs[len(o.Sender.Txs)-1].Status = "FAILED"
		}, "no payment of it completed, yet GET /uma-requests/{id} says PAID"},
		{"request unpaid and expired, shown pending", func(o *observed) {
			o.Sender.Txs[len(o.Sender.Txs)-1].Status = "FAILED"
			r := o.Sender.Requests["R1"]
			r.Status, r.TransactionID = "PENDING", ""
			o.Sender.Requests["R1"] = r
		}, "no payment of it completed, yet GET /uma-requests/{id} says PENDING"},
		{"request unpaid and live, shown expired", func(o *observed) {
			o.Sender.Txs[len(o.Sender.Txs)-1].Status = "FAILED"
			r := o.Sender.Requests["R1"]
			r.Status, r.TransactionID, r.ExpiresAt = "EXPIRED", "", r.readTo.Add(time.Minute)
			o.Sender.Requests["R1"] = r
		}, "no payment of it completed, yet GET /uma-requests/{id} says EXPIRED"},
		{"request paid another amount", func(o *observed) { o.Sender.Txs[len(o.Sender.Txs)-1].ReceivedAmount = eur(149) },
			"received 149 EUR, the request asked 150"},
		{"refusal names no quote", func(o *observed) { pay(o, "Q5").Refusal = "already executed" },
			"was refused without naming the quote paying it"},
		{"refused, yet nothing else executed", func(o *observed) {
			p := pay(o, "Q5")
			p.Sibling, p.Refusal = "Q9", "paid by quote Q9"
		}, "yet no other quote of the request executed"},
		{"a request announced twice", func(o *observed) { o.Hooks[hookKey{"sender", "UMA_REQUEST", "R1", ""}] = 2 },
			"got 2 UMA_REQUEST webhooks"},
		{"a request not announced", func(o *observed) { delete(o.Hooks, hookKey{"sender", "UMA_REQUEST", "R1", ""}) },
			"got 0 UMA_REQUEST webhooks"},
		{"a request announced that was never made", func(o *observed) { o.Hooks[hookKey{"sender", "UMA_REQUEST", "R7", ""}] = 1 },
			"a request the driver did not make"},
		{"a paid request quoted again", func(o *observed) { pay(o, "Q4").Requote = "Q6" },
			"POST /quotes made quote Q6 for it after a payment of it answered COMPLETED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := extWorld()
			c.spoil(&o)
			wantBroken(t, o, c.want)
		})
	}
}
