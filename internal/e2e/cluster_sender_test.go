package e2e

import (
	"net"
	"sync"
	"testing"
)

// TestClusterSender: a sending VASP run as two processes executes many
// payments at once through its balancer; each completes once, and the
// books of both VASPs balance.
func TestClusterSender(t *testing.T) {
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCluster(t, 2, lb, nil)
	a := c.front
	b := &vaspProc{t: t, name: "receiver", ln: lb}
	b.cfg = config(t, lb, lb, postgresDB(t))
	b.cfg.Lightning.DevnetPeers = a.base
	if err := b.cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	b.start()
	alice := a.user("alice", "USD", "Alice Sender")
	bob := b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 1000_00)
	const n = 12
	qs := make([]quoteResp, n)
	var want int64
	for i := range qs {
		qs[i] = quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", int64(1_00+i))
		want += qs[i].TotalReceivingAmount
	}
	var wg sync.WaitGroup
	for i := range qs {
		for range 2 { // each twice at once: a retry racing the first try
			wg.Add(1)
			go func() {
				defer wg.Done()
				var tx txResp
				if _, err := a.call("POST", "/quotes/"+qs[i].QuoteID+"/execute", nil, &tx); err != nil {
					t.Errorf("execute %d: %v", i, err)
				}
			}()
		}
	}
	wg.Wait()
	eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == want })
	eventually(t, "all completed", func() bool {
		var open int
		err := a.daemon.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE status <> 'COMPLETED'`).Scan(&open)
		return err == nil && open == 0
	})
	eventually(t, "webhooks", func() bool { return len(a.hooks.find("OUTGOING_PAYMENT", "COMPLETED")) >= n })
	if got := len(a.hooks.find("OUTGOING_PAYMENT", "COMPLETED")); got != n {
		t.Fatalf("%d OUTGOING_PAYMENT COMPLETED webhooks for %d payments", got, n)
	}
	a.checkBooks()
	b.checkBooks()
}
