package embedded_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnwire"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestSlowPeerDoesNotBlockKnownPeers: while alice asks her peers who they
// are (to route a payment to a node she does not know) and one of them
// hangs, a payment to a peer she knows already goes through at once.
func TestSlowPeerDoesNotBlockKnownPeers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var (
			slow    atomic.Bool
			asked   = make(chan struct{}, 1)
			release = make(chan struct{})
			once    sync.Once
		)
		unblock := func() { once.Do(func() { close(release) }) }
		hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if slow.Load() {
				select {
				case asked <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
			http.NotFound(w, r)
		}))
		t.Cleanup(hanging.Close)
		t.Cleanup(unblock) // runs before the server closes
		c := newCluster(t, db, func(i int, o *embedded.Options) {
			if i == 0 {
				o.DevnetPeers = append(o.DevnetPeers, hanging.URL)
			}
		})
		alice, bob := c.alice(), c.bob()
		payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest) // alice learns bob's address
		slow.Store(true)
		time.Sleep(1100 * time.Millisecond) // peers are asked at most once a second

		// A payment to a node no peer serves: alice asks her peers, and
		// one of them hangs.
		pr, _ := invoiceWithFeatures(t, c.clock.Now(), lnwire.TLVOnionPayloadRequired, lnwire.PaymentAddrRequired)
		unknown := make(chan lightning.Payment, 1)
		go func() {
			p, _ := alice.Pay(context.Background(), lightning.PayRequest{Invoice: pr, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second})
			unknown <- p
		}()
		select {
		case <-asked:
		case <-time.After(10 * time.Second):
			t.Fatal("alice never asked the hanging peer")
		}

		inv := newInvoice(t, bob, 2000)
		known := make(chan lightning.Payment, 1)
		go func() {
			p, _ := alice.Pay(context.Background(), lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second})
			known <- p
		}()
		select {
		case p := <-known:
			if p.Status != lightning.StatusSucceeded {
				t.Fatalf("payment to bob: %s (%s)", p.Status, p.FailureReason)
			}
		case <-time.After(2 * time.Second):
			unblock()
			t.Fatal("a payment to a known peer waited for another peer's slow answer")
		}
		unblock()
		if p := <-unknown; p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("payment to a node nobody serves: %s (%s), want FAILED (NO_ROUTE)", p.Status, p.FailureReason)
		}
	})
}
