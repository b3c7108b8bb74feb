package e2e

import (
	"testing"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/lightning/regtest"
)

// TestPaymentOverLND is TestPaymentAcrossCurrencies with each VASP on its
// own lnd of a real regtest network (btcd + two lnd with a channel), as in
// production. It needs the binaries scripts/ci/lnd.sh builds and skips
// with one line without them.
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
}
