package paycrash

import (
	"errors"
	"strings"
	"testing"
)

// world is a consistent end of a run: funding and one deposit, payment 1
// completed, payment 2 failed after an execute whose answer was lost.
func world() observed {
	const a, b = "User:a", "User:b"
	const m1, m2 = 1_343_642, 2_000_000
	usd := func(n int64) *apiAmount { x := &apiAmount{Amount: n}; x.Currency.Code = "USD"; return x }
	eur := func(n int64) *apiAmount { x := &apiAmount{Amount: n}; x.Currency.Code = "EUR"; return x }
	mv := func(ps ...any) map[string]map[string]int64 {
		m := map[string]map[string]int64{}
		for i := 0; i < len(ps); i += 3 {
			acct, cur, n := ps[i].(string), ps[i+1].(string), int64(ps[i+2].(int))
			if m[acct] == nil {
				m[acct] = map[string]int64{}
			}
			m[acct][cur] += n
		}
		return m
	}
	return observed{
		Alice: a, Bob: b, Funding: 1000, InitialNodeMsat: initialNodeMsat,
		Payments: []*payment{
			{N: 1, Tag: "t1", Key: "k1", QuoteID: "Q1", Sending: 136, Receiving: 123, Msats: m1,
				Attempts: 1, TxIDs: []string{"T1"}, Statuses: []string{"COMPLETED"}},
			{N: 2, Tag: "t2", Key: "k2", QuoteID: "Q2", Sending: 200, Receiving: 180, Msats: m2,
				Attempts: 2, Lost: 1, TxIDs: []string{"T2"}, Statuses: []string{"FAILED"}},
		},
		Deposits: []*deposit{{Key: "d1", Amount: 10, Attempts: 2, IDs: []string{"deposit/a/d1", "deposit/a/d1"}}},
		Sender: view{name: "sender",
			Txs: []apiTx{
				{ID: "T1", Status: "COMPLETED", Type: "OUTGOING", UserID: a, QuoteID: "Q1", SentAmount: usd(136), ReceivedAmount: eur(123)},
				{ID: "T2", Status: "FAILED", Type: "OUTGOING", UserID: a, QuoteID: "Q2", SentAmount: usd(200), ReceivedAmount: eur(180)},
			},
			Balances: map[string]map[string][2]int64{a: {"USD": {874, 0}}},
			System: map[string]map[string]int64{"system:fiat": {"USD": -1010}, "system:fx": {"USD": 136, "BTC": -m1},
				"system:node": {"BTC": m1}},
			TxHash: map[string]string{"T1": "h1", "T2": "h2"},
			Moves: map[string]map[string]map[string]int64{
				"deposit/a/funding": mv("user:"+a, "USD", 1000, "system:fiat", "USD", -1000),
				"deposit/a/d1":      mv("user:"+a, "USD", 10, "system:fiat", "USD", -10),
				"reserve/h1":        mv("user:"+a, "USD", -136, "hold:"+a, "USD", 136),
				"settle/h1":         mv("hold:"+a, "USD", -136, "system:fx", "USD", 136, "system:fx", "BTC", -m1, "system:node", "BTC", m1),
				"reserve/h2":        mv("user:"+a, "USD", -200, "hold:"+a, "USD", 200),
				"release/h2":        mv("hold:"+a, "USD", -200, "user:"+a, "USD", 200),
			},
			NodePayments: map[string]nodePayment{"h1": {Status: "SUCCEEDED", Amount: m1, Attempts: 2}, "h2": {Status: "FAILED", Amount: m2, Attempts: 1}},
			Invoices:     map[string]nodeInvoice{},
			NodeBalance:  initialNodeMsat - m1,
		},
		Receiver: view{name: "receiver",
			Txs: []apiTx{
				{ID: "I1", Status: "COMPLETED", Type: "INCOMING", UserID: b, Description: "t1", ReceivedAmount: eur(123)},
				{ID: "I2", Status: "PENDING", Type: "INCOMING", UserID: b, Description: "t2", ReceivedAmount: eur(180)},
			},
			Balances: map[string]map[string][2]int64{b: {"EUR": {123, 0}}},
			System:   map[string]map[string]int64{"system:node": {"BTC": -m1}, "system:fx": {"BTC": m1, "EUR": -123}},
			TxHash:   map[string]string{"I1": "h1", "I2": "h2"},
			Moves: map[string]map[string]map[string]int64{
				"receive/h1": mv("system:node", "BTC", -m1, "system:fx", "BTC", m1, "system:fx", "EUR", -123, "user:"+b, "EUR", 123),
			},
			NodePayments: map[string]nodePayment{},
			Invoices:     map[string]nodeInvoice{"h1": {State: "SETTLED", Amount: m1, Paid: m1}, "h2": {State: "OPEN", Amount: m2}},
			NodeBalance:  initialNodeMsat + m1,
		},
		Hooks: map[hookKey]int{
			{"sender", "OUTGOING_PAYMENT", "T1", "COMPLETED"}: 1, {"sender", "OUTGOING_PAYMENT", "T2", "FAILED"}: 1,
			{"receiver", "INCOMING_PAYMENT", "I1", "PENDING"}: 1, {"receiver", "INCOMING_PAYMENT", "I2", "PENDING"}: 1,
			{"receiver", "INCOMING_PAYMENT", "I1", "COMPLETED"}: 1,
		},
	}
}

func TestCheckConsistentWorld(t *testing.T) {
	bad, n := check(world())
	if len(bad) > 0 {
		t.Fatalf("a consistent end is reported broken:\n%s", strings.Join(bad, "\n"))
	}
	want := tally{Executed: 2, Completed: 1, Failed: 1, RetriedExecutes: 1, LostAnswers: 1, LightningRedelivered: 1}
	if n != want {
		t.Errorf("counted %+v, want %+v", n, want)
	}
}

// TestCheckFindsBrokenPromises breaks the consistent end one way at a time,
// as a defect would: the check must say so.
func TestCheckFindsBrokenPromises(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(o *observed)
		want  string
	}{
		{"credited twice", func(o *observed) {
			o.Receiver.Txs = append(o.Receiver.Txs, apiTx{ID: "I9", Status: "COMPLETED", Type: "INCOMING", UserID: o.Bob,
				Description: "t1", ReceivedAmount: o.Receiver.Txs[0].ReceivedAmount})
		}, "want one COMPLETED credit"},
		{"credited the wrong amount", func(o *observed) { o.Receiver.Moves["receive/h1"]["user:"+o.Bob]["EUR"] = 124 },
			"the receiver's books credited 124 EUR"},
		{"failed, not refunded", func(o *observed) { delete(o.Sender.Moves, "release/h2") }, "not refunded"},
		{"failed, yet credited", func(o *observed) {
			o.Receiver.Invoices["h2"] = nodeInvoice{State: "SETTLED", Amount: 2_000_000, Paid: 2_000_000}
		},
			"failed at the sender, yet the receiver's books credited it"},
		{"a retry paid again", func(o *observed) { o.Payments[1].TxIDs = append(o.Payments[1].TxIDs, "T9") }, "answered two transactions"},
		{"two transactions for a quote", func(o *observed) {
			o.Sender.Txs = append(o.Sender.Txs, apiTx{ID: "T9", Status: "FAILED", Type: "OUTGOING", UserID: o.Alice, QuoteID: "Q2"})
		}, "has 2 outgoing transactions"},
		{"a transaction no execute made", func(o *observed) {
			o.Sender.Txs = append(o.Sender.Txs, apiTx{ID: "T3", Status: "FAILED", Type: "OUTGOING", UserID: o.Alice, QuoteID: "Q3"})
		}, "which no execute of the platform's answered"},
		{"stuck", func(o *observed) { o.Sender.Txs[1].Status = "PROCESSING" }, "is still PROCESSING"},
		{"answered COMPLETED, ended FAILED", func(o *observed) { o.Payments[1].Statuses = []string{"COMPLETED"} },
			"was answered COMPLETED and ended FAILED"},
		{"never answered", func(o *observed) { o.Payments[1].TxIDs, o.Payments[1].Statuses = nil, nil }, "was never answered"},
		{"sender balance off", func(o *observed) { o.Sender.Balances[o.Alice]["USD"] = [2]int64{875, 0} }, "sender's user holds 875 USD"},
		{"money left held", func(o *observed) { o.Sender.Balances[o.Alice]["USD"] = [2]int64{874, 200} }, "(and 200 held)"},
		{"receiver balance off", func(o *observed) { o.Receiver.Balances[o.Bob]["EUR"] = [2]int64{246, 0} }, "receiver's user holds 246 EUR"},
		{"books unbalanced", func(o *observed) { o.Receiver.System["system:fx"]["EUR"] = -122 }, "in EUR sum to 1, not zero"},
		{"ledger audit", func(o *observed) { o.Sender.LedgerErr = errors.New("ledger check: movement x does not balance") },
			"sender: ledger check: movement x does not balance"},
		{"a deposit twice", func(o *observed) { o.Deposits[0].IDs[1] = "deposit/a/other" }, "answered two movements"},
		{"a deposit booked twice", func(o *observed) {
			o.Sender.Moves["deposit/a/d1-again"] = o.Sender.Moves["deposit/a/d1"]
		}, "3 deposit movements, for 2 deposits answered"},
		{"invoice paid twice", func(o *observed) {
			o.Receiver.Invoices["h1"] = nodeInvoice{State: "SETTLED", Amount: 1_343_642, Paid: 2 * 1_343_642}
		},
			"was paid 2687284"},
		{"receiver node credited twice", func(o *observed) { o.Receiver.NodeBalance += 1_343_642 }, "receiver: its node received 2687284 msats"},
		{"sender node paid twice", func(o *observed) { o.Sender.NodeBalance -= 1_343_642 }, "sender: its node spent 2687284 msats"},
		{"node paid for no payment", func(o *observed) {
			o.Sender.NodePayments["h9"] = nodePayment{Status: "SUCCEEDED", Amount: 5}
		}, "which no completed payment paid"},
		{"node payment still in flight", func(o *observed) { o.Sender.NodePayments["h2"] = nodePayment{Status: "IN_FLIGHT"} },
			"still in flight"},
		{"an end not announced", func(o *observed) { delete(o.Hooks, hookKey{"sender", "OUTGOING_PAYMENT", "T2", "FAILED"}) },
			"got 0 OUTGOING_PAYMENT FAILED webhooks"},
		{"an end announced twice", func(o *observed) { o.Hooks[hookKey{"sender", "OUTGOING_PAYMENT", "T1", "COMPLETED"}] = 2 },
			"got 2 OUTGOING_PAYMENT COMPLETED webhooks"},
		{"the other end announced", func(o *observed) { o.Hooks[hookKey{"sender", "OUTGOING_PAYMENT", "T2", "COMPLETED"}] = 1 },
			"got 1 OUTGOING_PAYMENT COMPLETED webhooks (distinct webhookIds) for T2, which ended FAILED"},
		{"a credit not announced", func(o *observed) { delete(o.Hooks, hookKey{"receiver", "INCOMING_PAYMENT", "I1", "COMPLETED"}) },
			"got 0 INCOMING_PAYMENT COMPLETED webhooks"},
		{"a credit announced for nothing", func(o *observed) { o.Hooks[hookKey{"receiver", "INCOMING_PAYMENT", "I7", "COMPLETED"}] = 1 },
			"credited by no completed payment"},
		{"a credit for nothing", func(o *observed) {
			o.Receiver.Moves["receive/h9"] = map[string]map[string]int64{}
		}, "movement receive/h9 credits no completed payment"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := world()
			c.spoil(&o)
			wantBroken(t, o, c.want)
		})
	}
}

// wantBroken fails t unless check reports, of o, a broken promise saying
// want.
func wantBroken(t *testing.T, o observed, want string) {
	t.Helper()
	bad, _ := check(o)
	for _, b := range bad {
		if strings.Contains(b, want) {
			return
		}
	}
	t.Errorf("no broken promise says %q; got:\n%s", want, strings.Join(bad, "\n"))
}
