package embedded_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestPayeeDevnetGoneFails: a payee whose process answers, but no longer
// serves the devnet (it restarted without it: 404), or no longer takes
// our secret (401), settled nothing: the devnet handler refuses before
// looking at the payment. The first attempt meeting it never reached the
// payee, so the payment fails (NO_ROUTE) and the payer gets its money
// back, instead of staying in flight for good.
func TestPayeeDevnetGoneFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tc := range []struct {
			name   string
			secret string
		}{{"devnet off (404)", ""}, {"other secret (401)", "another secret"}} {
			c := newCluster(t, db, func(i int, o *embedded.Options) { o.KeyName += "." + tc.name })
			alice, bob := c.alice(), c.bob()
			payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
			inv := newInvoice(t, bob, 2000)
			c.opts[1].DevnetSecret = tc.secret
			if tc.secret == "" {
				c.opts[1].DevnetPeers = nil
			}
			c.Restart(t, bob)
			before := balance(t, alice)
			p := payWithin(t, alice, inv.PaymentRequest, 5*time.Second)
			if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
				t.Fatalf("%s: payment %s (%s), want FAILED (NO_ROUTE)", tc.name, p.Status, p.FailureReason)
			}
			if got := balance(t, alice); got != before {
				t.Fatalf("%s: payer balance %d, want %d", tc.name, got, before)
			}
		}
	})
}
