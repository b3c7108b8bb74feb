package e2e

import (
	"strconv"
	"testing"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/lightning/regtest"
)

// TestPaymentOverLND is TestPaymentAcrossCurrencies with each VASP on its
// own lnd of a real regtest network (btcd + two lnd with a channel), as in
// production, then a payment between two users of one of them (by its
// books: lnd does not pay its own invoices). It needs the binaries
// scripts/ci/lnd.sh builds and skips with one line without them.
func TestPaymentOverLND(t *testing.T) {
	net := regtest.StartT(t, regtest.Options{})
	nodes := map[string]*regtest.LND{}
	a, b := twoVASPs(t, sqliteDB, func(c *daemon.Config) {
		n := net.Alice
		if _, taken := nodes["alice"]; taken {
			n = net.Bob
		}
		nodes[n.Name] = n
		c.Lightning.Backend = "lnd"
		// The harness sets up the embedded node's devnet; with lnd
		// those settings are refused (they would be ignored).
		c.Lightning.DevnetSecret, c.Lightning.DevnetPeers = "", ""
		c.Lightning.LNDRESTURL = n.RESTURL()
		c.Lightning.LNDTLSCert = n.TLSCert
		c.Lightning.LNDMacaroon = n.AdminMacaroon
		c.Lightning.LNDMaxFeeMsat = lnd.DefaultMaxFeeMsat // the flag's default; 0 is refused
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
	})
	alice := a.user("alice", "USD", "Alice Sender")
	bob := b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	q := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 10_00)
	var tx txResp
	a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx)
	if tx.Status != "COMPLETED" && tx.Status != "PROCESSING" {
		t.Fatalf("execute over lnd: %+v", tx)
	}
	eventually(t, "bob credited over lnd", func() bool { return b.balance(bob.ID, "EUR") == 10_00 })
	eventually(t, "alice's payment completed", func() bool {
		var got txResp
		a.mustCall("GET", "/transactions/"+tx.ID, nil, &got)
		return got.Status == "COMPLETED"
	})
	a.checkBooks()
	b.checkBooks()
	bobMsats := q.InvoiceAmountMsats

	// Alice pays Carol, another user of her own VASP. lnd does not pay
	// its own invoices: the payment is made by vasp1's books alone, and
	// its reconciliation with lnd finds both sides right.
	carol := a.user("carol", "EUR", "Carol Receiver")
	q = quote(t, a, alice.ID, "$carol@"+a.domain, "RECEIVING", 5_00)
	a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx)
	if tx.Status != "COMPLETED" {
		t.Fatalf("execute of a payment between two users of one vaspd over lnd: %+v", tx)
	}
	if got := a.balance(carol.ID, "EUR"); got != 5_00 {
		t.Fatalf("carol's balance %d, want 500", got)
	}
	// Booked, its invoice is canceled on lnd (invoicesrpc), so that no
	// one pays it again: Bob's invoice is settled and Carol's canceled
	// (beside them, the network's probes).
	states := map[string]string{}
	for _, n := range nodes {
		var list struct {
			Invoices []struct {
				State     string `json:"state"`
				ValueMsat string `json:"value_msat"`
			} `json:"invoices"`
		}
		if err := n.CLIJSON(t.Context(), &list, "listinvoices"); err != nil {
			t.Fatalf("%s: listinvoices: %v", n.Name, err)
		}
		for _, inv := range list.Invoices {
			states[inv.ValueMsat] += inv.State
		}
	}
	if states[strconv.FormatInt(q.InvoiceAmountMsats, 10)] != "CANCELED" || states[strconv.FormatInt(bobMsats, 10)] != "SETTLED" {
		t.Fatalf("lnd's invoices, states by amount in msat: %v; want carol's (%d msat) CANCELED, bob's (%d msat) SETTLED",
			states, q.InvoiceAmountMsats, bobMsats)
	}
	var r reconcileResp
	a.mustCall("GET", "/ledger/reconciliation", nil, &r)
	if !r.Complete || len(r.Mismatches) != 0 || r.Checked["OUTGOING_COMPLETED"] != 2 || r.Checked["INCOMING_COMPLETED"] != 1 {
		t.Fatalf("vasp1's reconciliation with lnd after a payment by its books: %+v", r)
	}
	a.checkBooks()
}
