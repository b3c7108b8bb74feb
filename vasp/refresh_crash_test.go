package vasp_test

import (
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A process that claims a quote to refresh it and dies (here: hangs on the
// receiver) does not keep the others off it until its invoice expires:
// the claim ends halfway to the expiry at the latest, and another process
// refreshes the quote in the second half. The stuck process's late answer
// then changes nothing (superseded).
func TestRefreshClaimOfADeadProcessEndsBeforeExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		other := r.service(t, nil)
		r.fund(t, 100_000)
		q := r.autoQuote(t, 900)

		// The first payreq of a refresh hangs until released: the process
		// that sent it is as good as dead, holding its claim.
		release, hung := make(chan struct{}), make(chan struct{})
		var releaseOnce sync.Once
		free := func() { releaseOnce.Do(func() { close(release) }) }
		defer free() // a failure below must not leave the receiver's handler hung
		once := func() {
			r.during.Store(nil)
			close(hung)
			<-release
		}
		r.during.Store(&once)
		r.w.clock.Set(q.ExpiresAt.Add(-29 * time.Second)) // due: 29 s left
		stuck := make(chan int, 1)
		go func() { stuck <- r.round(t, r.s) }()
		<-hung

		// 15 s later, 14 s before the invoice expires, the other process
		// takes the quote over (the claim's 40 s lease, twice the
		// counterparty timeout and 10 s, outlived the invoice before).
		r.w.clock.Advance(15 * time.Second)
		if n := r.round(t, other); n != 1 {
			t.Fatalf("another process refreshed %d quotes 14 s before the claimed quote expires, want 1", n)
		}
		got := r.get(t, q.ID)
		if got.RefreshCount != 1 || got.PaymentHash == q.PaymentHash {
			t.Fatalf("quote after the takeover: refreshCount %d, same terms %v", got.RefreshCount, got.PaymentHash == q.PaymentHash)
		}
		free()
		if n := <-stuck; n != 0 {
			t.Fatalf("the stuck process's late refresh wrote its terms (%d)", n)
		}
		if after := r.get(t, q.ID); after.PaymentHash != got.PaymentHash || after.RefreshCount != 1 {
			t.Fatalf("the late answer changed the quote: %+v", after)
		}
		if r.outcomes("superseded") != 1 {
			t.Fatalf("superseded counted %v, want 1", r.outcomes("superseded"))
		}
	})
}
