package api_test

import (
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestSandboxReceiveSenderNormalised: the sandbox sender's domain is
// accepted however spelt (a trailing dot, https's port, upper case:
// uma.NormalizeDomain, as every UMA domain is compared), and the payment
// names it in one spelling, the sandbox's own. It was stored as given:
// "$success.eur@sandbox.umaaas.uma.money." as the payer's identifier, the
// transaction's senderUmaAddress and its webhooks, a sender no other
// payment of it is listed under.
func TestSandboxReceiveSenderNormalised(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, _ := newSandboxFixture(t, db, nil)
		want := "$success.eur@" + vasp.SandboxDomain
		for _, sender := range []string{"$success.eur@" + vasp.SandboxDomain + ".", "$Success.EUR@SANDBOX.umaaas.uma.money.:443"} {
			st, raw, m := f.call(t, "POST", "/sandbox/receive", &f.admin, mustJSON(t, map[string]any{"senderUmaAddress": sender,
				"receiverUmaAddress": "$bob@" + f.domain, "receivingCurrencyCode": "EUR", "receivingCurrencyAmount": 100}))
			if st != 200 {
				t.Fatalf("sandbox receive from %s: %d %s", sender, st, raw)
			}
			if m["senderUmaAddress"] != want {
				t.Fatalf("sender %s: senderUmaAddress %v, want %s", sender, m["senderUmaAddress"], want)
			}
			_, _, tx := f.call(t, "GET", "/transactions/"+m["id"].(string), &f.admin, "")
			if tx["senderUmaAddress"] != want {
				t.Fatalf("sender %s: stored senderUmaAddress %v, want %s", sender, tx["senderUmaAddress"], want)
			}
		}
	})
}
