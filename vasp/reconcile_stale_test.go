package vasp_test

import (
	"context"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// settlingNode is the embedded node whose lookup of one invoice comes late:
// before it answers, the invoice is paid and credited (during), and more
// than the grace passes on the reconciler's clock, as a run of a page of
// slow lookups takes minutes.
type settlingNode struct {
	*embedded.Node
	hash   lightning.Hash
	during func()
}

func (n settlingNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	if h == n.hash {
		n.during()
	}
	return n.Node.LookupInvoice(ctx, h)
}

// A payment read PENDING, whose invoice the node settles and vaspd
// credits while the run is under way, is not SETTLED_NOT_CREDITED
// however long the lookup took: its status was read before the
// settlement, and the grace runs from that read, not from the lookup's
// answer. It was reported a mismatch (paging the operator) for a payment
// credited on time.
func TestReconcileStatusReadBeforeTheSettlement(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		in := r.incoming(t, false)
		w, sweeper := r.h.w, r.rs
		node := settlingNode{Node: w.node, hash: mustHash(t, in.PaymentHash), during: func() {
			p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: in.Invoice, MaxFeeMsat: 1000, Timeout: 10 * time.Second})
			if err != nil || p.Status != lightning.StatusSucceeded {
				t.Errorf("paying the incoming invoice: %s %v", p.Status, err)
			}
			w.clock.Advance(2 * time.Minute)
			sweeper.SweepPending(t.Context())
			if got, _ := sweeper.GetTransaction(t.Context(), in.ID); got.Status != vasp.StatusCompleted {
				t.Errorf("incoming payment not credited by the sweep: %s", got.Status)
			}
		}}
		r.rs = w.service(t, func(o *vasp.Options) { o.Node = node })
		rep := r.reconcile(t)
		wantMismatches(t, rep, map[string]string{})
		if rep.InFlight.IncomingPending != 1 {
			t.Fatalf("in flight %+v, want the payment read pending counted pending", rep.InFlight)
		}
	})
}
