package vasp_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// An outgoing payment the node finished while vaspd's books still say
// PROCESSING is the resolver's to book, once a pay timeout and a margin
// old: young, it is in flight, not a mismatch; older than that and the
// grace, the books lag the node, FINAL_ON_NODE_NOT_BOOKED, whether the
// node paid it or failed it. Old ones the node still pays, or does not
// know, stay in flight: the resolver is still at them. Nothing was looked
// up before: PROCESSING payments were only counted, and one the resolver
// never booked (its lookups failing, a bug) was in flight for good.
func TestReconcileFinalOnNodeNotBooked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		w := r.h.w

		// The node holds the payment past the execute's pay timeout
		// (50 ms, on the world's clock): PROCESSING, for the resolver,
		// which never runs here. Released, the node pays it.
		held := w.service(t, func(o *vasp.Options) { o.PayTimeout = 50 * time.Millisecond })
		q, err := r.h.quote(t, r.h.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		w.node.SetFaults(embedded.Faults{HoldInFlight: true})
		paid, err := held.ExecuteQuote(t.Context(), q.ID, "")
		w.node.SetFaults(embedded.Faults{})
		if err != nil || paid.Status != vasp.StatusProcessing {
			t.Fatalf("execute held in flight: %s %v, want %s", paid.Status, err, vasp.StatusProcessing)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			p, err := w.node.TrackPayment(t.Context(), mustHash(t, paid.PaymentHash))
			if err == nil && p.Status == lightning.StatusSucceeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the released payment is %s %v on the node, want SUCCEEDED", p.Status, err)
			}
		}

		// Three more PROCESSING, recorded as they are: one the node
		// failed, one it still pays, one it does not know. The first
		// two are the node's own answer (lnd's AuditPayment), which the
		// reconciliation asks rather than TrackPayment (which here
		// knows neither).
		processing := func() vasp.Transaction {
			var hash lightning.Hash
			_, _ = rand.Read(hash[:])
			now := w.clock.Now()
			tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Outgoing, Status: vasp.StatusProcessing,
				UserID: w.alice.UserID, QuoteID: vaspd.NewID(vaspd.IDQuote), PaymentHash: hash.String(), Invoice: "lnbcrt1",
				Currency: "USD", Amount: 10, Msats: 10_000, CreatedAt: now, UpdatedAt: now}
			if err := r.rs.InsertTransaction(t.Context(), tr); err != nil {
				t.Fatal(err)
			}
			return tr
		}
		failedOnNode, paying, unknown := processing(), processing(), processing()
		node := auditNode{Node: w.node, audited: map[lightning.Hash]lightning.Payment{
			mustHash(t, failedOnNode.PaymentHash): {PaymentHash: mustHash(t, failedOnNode.PaymentHash), Status: lightning.StatusFailed,
				FailureReason: lightning.FailureNoRoute},
			mustHash(t, paying.PaymentHash): {PaymentHash: mustHash(t, paying.PaymentHash), Status: lightning.StatusInFlight}}}
		r.rs = w.service(t, func(o *vasp.Options) { o.Node = node })

		// Young: the resolver's, in flight.
		rep := r.reconcile(t)
		wantMismatches(t, rep, map[string]string{})
		if rep.InFlight.OutgoingProcessing != 4 || rep.Checked[vasp.CheckOutgoingProcessing] != 0 {
			t.Fatalf("young: in flight %+v, checked %v; want 4 outgoing processing, none checked", rep.InFlight, rep.Checked)
		}

		// Just within the pay timeout (30 s), the resolver's margin and
		// the grace: still in flight.
		w.clock.Advance(30*time.Second + 5*time.Second + time.Minute - time.Second)
		rep = r.reconcile(t)
		wantMismatches(t, rep, map[string]string{})
		if rep.InFlight.OutgoingProcessing != 4 {
			t.Fatalf("within the threshold: in flight %+v, want 4 outgoing processing", rep.InFlight)
		}

		// Past it: the two the node finished are mismatches, checked;
		// the other two stay in flight.
		w.clock.Advance(2 * time.Second)
		rep = r.reconcile(t)
		wantMismatches(t, rep, map[string]string{paid.ID: vasp.MismatchFinalOnNodeNotBooked, failedOnNode.ID: vasp.MismatchFinalOnNodeNotBooked})
		if rep.Checked[vasp.CheckOutgoingProcessing] != 2 || rep.InFlight.OutgoingProcessing != 2 {
			t.Fatalf("past the threshold: checked %v, in flight %+v; want 2 OUTGOING_PROCESSING, 2 outgoing processing (%s, %s)",
				rep.Checked, rep.InFlight, paying.ID, unknown.ID)
		}
		for _, m := range rep.Mismatches {
			want := map[string]string{paid.ID: string(lightning.StatusSucceeded), failedOnNode.ID: string(lightning.StatusFailed)}[m.TransactionID]
			if m.Ours.Status != vasp.StatusProcessing || m.Node.State != want || m.Direction != vasp.Outgoing {
				t.Errorf("mismatch %+v: want vaspd PROCESSING, the node %s", m, want)
			}
			if m.TransactionID == paid.ID && (m.Node.Msats != paid.Msats || m.Ours.Msats != paid.Msats) {
				t.Errorf("mismatch %+v: want %d msats on both sides", m, paid.Msats)
			}
		}

		// A lookup that fails leaves the payment unchecked, as any other's.
		node.failing = map[lightning.Hash]bool{mustHash(t, paid.PaymentHash): true}
		r.rs = w.service(t, func(o *vasp.Options) { o.Node = node })
		now := w.clock.Now()
		rep, err = r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Complete || rep.Unchecked != 1 || rep.Checked[vasp.CheckOutgoingProcessing] != 1 || rep.InFlight.OutgoingProcessing != 2 {
			t.Fatalf("%s's lookup failing: complete=%v, %d unchecked, checked %v, in flight %+v; want incomplete, 1 unchecked, 1 OUTGOING_PROCESSING, 2 in flight",
				paid.ID, rep.Complete, rep.Unchecked, rep.Checked, rep.InFlight)
		}
		wantMismatches(t, rep, map[string]string{failedOnNode.ID: vasp.MismatchFinalOnNodeNotBooked})
	})
}
