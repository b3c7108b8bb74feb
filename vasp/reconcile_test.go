package vasp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// reconciler is a sender and receiver on one embedded node (the hostile
// receiver's invoices are the node's own, so paying them settles both
// halves), with a second process of the same VASP on the world's fake
// clock that credits settled invoices (its sweep) and reconciles.
type reconciler struct {
	h  *hostile
	rs *vasp.Service
}

func newReconciler(t *testing.T, db *store.DB) *reconciler {
	h := newHostile(t, db)
	h.fund(t, 100_000)
	return &reconciler{h: h, rs: h.w.service(t, nil)}
}

// execute quotes and executes a payment of alice's, wanting status.
func (r *reconciler) execute(t *testing.T, status string) vasp.Transaction {
	t.Helper()
	q, err := r.h.quote(t, r.h.lookup(t), vasp.LockedSending, 1000)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := r.h.s.ExecuteQuote(t.Context(), q.ID, "")
	if err != nil || tr.Status != status {
		t.Fatalf("execute: %s %v, want %s", tr.Status, err, status)
	}
	return tr
}

// failed is an outgoing payment the node failed (NO_ROUTE), its money
// given back to alice.
func (r *reconciler) failed(t *testing.T) vasp.Transaction {
	t.Helper()
	r.h.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
	defer r.h.w.node.SetFaults(embedded.Faults{})
	return r.execute(t, vasp.StatusFailed)
}

// incoming is a PENDING incoming payment to bob from another VASP,
// its invoice paid by the node when pay.
func (r *reconciler) incoming(t *testing.T, pay bool) vasp.Transaction {
	t.Helper()
	sender := r.h.w.counterparty(t, "vasp1.example")
	resp, err := r.h.s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
	wantCode(t, err, "")
	if pay {
		p, err := r.h.w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, MaxFeeMsat: 1000, Timeout: 10 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("paying the incoming invoice: %s %v", p.Status, err)
		}
	}
	var id string
	if err := r.h.w.db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE invoice = $1`, resp.PR).Scan(&id); err != nil {
		t.Fatal(err)
	}
	tr, err := r.h.s.GetTransaction(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func (r *reconciler) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	res, err := r.h.w.db.ExecContext(t.Context(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows, want 1", q, n)
	}
}

// reconcile runs a reconciliation of the last hour on the fake clock.
func (r *reconciler) reconcile(t *testing.T) vasp.Reconciliation {
	t.Helper()
	now := r.h.w.clock.Now()
	rep, err := r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Complete || rep.Unchecked != 0 {
		t.Fatalf("reconciliation not complete: %q, %d unchecked", rep.Incomplete, rep.Unchecked)
	}
	return rep
}

// wantMismatches checks that rep found exactly want (transaction id →
// kind), each counted once.
func wantMismatches(t *testing.T, rep vasp.Reconciliation, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, m := range rep.Mismatches {
		got[m.TransactionID] = m.Kind
	}
	counts := map[string]int{}
	for _, k := range want {
		counts[k]++
	}
	for _, k := range vasp.MismatchKinds {
		if rep.MismatchCounts[k] != counts[k] {
			t.Errorf("%s counted %d times, want %d", k, rep.MismatchCounts[k], counts[k])
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("mismatches %v, want %v", got, want)
	}
}

// A reconciliation after real payments — outgoing completed and failed,
// incoming credited, pending and settled moments ago — finds nothing
// wrong; then each mismatch is made real, by a bug's hand in vaspd's
// table or the node's (or, for a refunded payment the node then sent, by
// the node paying it again), and the reconciliation reports exactly it.
func TestReconcile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		w := r.h.w
		out := []vasp.Transaction{r.execute(t, vasp.StatusCompleted), r.failed(t), r.execute(t, vasp.StatusCompleted),
			r.execute(t, vasp.StatusCompleted), r.failed(t)}
		in := []vasp.Transaction{r.incoming(t, true), r.incoming(t, true), r.incoming(t, false)}

		// Settled on the node a moment ago and not yet credited: on its
		// way (within the grace), not a mismatch.
		rep := r.reconcile(t)
		wantMismatches(t, rep, map[string]string{})
		if rep.InFlight.IncomingPending != 3 || rep.Transactions != 8 {
			t.Fatalf("in flight %+v of %d payments; want 3 incoming pending of 8", rep.InFlight, rep.Transactions)
		}

		// Credited by the sweep: a clean reconciliation, every check counted.
		w.clock.Advance(2 * time.Minute)
		r.rs.SweepPending(t.Context())
		for _, tr := range in[:2] {
			if got, _ := r.rs.GetTransaction(t.Context(), tr.ID); got.Status != vasp.StatusCompleted {
				t.Fatalf("incoming payment %s not credited by the sweep: %s", tr.ID, got.Status)
			}
		}
		rep = r.reconcile(t)
		wantMismatches(t, rep, map[string]string{})
		want := map[string]int{vasp.CheckOutgoingCompleted: 3, vasp.CheckOutgoingFailed: 2, vasp.CheckIncomingCompleted: 2,
			vasp.CheckIncomingUnderpaid: 0, vasp.CheckIncomingNotPaid: 0, vasp.CheckOutgoingProcessing: 0}
		if !maps.Equal(rep.Checked, want) || rep.InFlight.IncomingPending != 1 {
			t.Fatalf("checked %v, in flight %+v; want %v and one incoming pending", rep.Checked, rep.InFlight, want)
		}

		mismatches := map[string]string{}
		step := func(name string, id, kind string, tamper func()) {
			t.Helper()
			tamper()
			if kind == "" {
				delete(mismatches, id)
			} else {
				mismatches[id] = kind
			}
			rep := r.reconcile(t)
			t.Logf("%s: %v", name, rep.MismatchCounts)
			wantMismatches(t, rep, mismatches)
			// Read in pages of three (of 8 or 9 payments), the same.
			r.rs.SetReconcilePage(3)
			wantMismatches(t, r.reconcile(t), mismatches)
			r.rs.SetReconcilePage(200)
		}
		// Refunded, then sent: the node asked to pay the failed invoice
		// again (as a second sender would) and succeeding.
		step("refunded but sent", out[1].ID, vasp.MismatchRefundedButSent, func() {
			p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: out[1].Invoice, MaxFeeMsat: 1000, Timeout: 10 * time.Second})
			if err != nil || p.Status != lightning.StatusSucceeded {
				t.Fatalf("paying the failed invoice again: %s %v", p.Status, err)
			}
		})
		step("outgoing amount", out[2].ID, vasp.MismatchOutgoingAmount, func() {
			r.exec(t, `UPDATE uma_transactions SET msats = msats + 1 WHERE id = $1`, out[2].ID)
		})
		step("not sent on the node", out[3].ID, vasp.MismatchNotSentOnNode, func() {
			r.exec(t, `UPDATE ln_embedded_payments SET status = 'FAILED', failure_reason = 'NO_ROUTE', preimage = '' WHERE payment_hash = $1`, out[3].PaymentHash)
		})
		step("refunded, unknown to the node", out[4].ID, vasp.MismatchRefundedUnknown, func() {
			r.exec(t, `DELETE FROM ln_embedded_payments WHERE payment_hash = $1`, out[4].PaymentHash)
		})
		// A payment the node refused before sending is not known to it,
		// rightly.
		step("refused, unknown to the node", out[4].ID, "", func() {
			r.exec(t, `UPDATE uma_transactions SET failure_reason = 'PAYMENT_REFUSED' WHERE id = $1`, out[4].ID)
		})
		step("incoming amount", in[0].ID, vasp.MismatchIncomingAmount, func() {
			r.exec(t, `UPDATE ln_embedded_invoices SET amount_paid_msat = amount_paid_msat + 1000 WHERE payment_hash = $1`, in[0].PaymentHash)
		})
		step("credited, not settled", in[2].ID, vasp.MismatchNotSettledOnNode, func() {
			r.exec(t, `UPDATE uma_transactions SET status = 'COMPLETED' WHERE id = $1`, in[2].ID)
		})
		// Settled on the node, never credited: the fake clock is two
		// minutes ahead of the node's, past the grace.
		late := r.incoming(t, true)
		step("settled, not credited", late.ID, vasp.MismatchSettledNotCredited, func() {})

		// At most limit payments: the report says where it stopped.
		now := w.clock.Now()
		part, err := r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 5)
		if err != nil || part.Complete || part.Transactions != 5 || part.ResumeSince.IsZero() || part.Incomplete == "" {
			t.Fatalf("a run of at most 5 payments: %+v, %v", part, err)
		}
		all := r.reconcile(t).Transactions
		if whole, err := r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), all); err != nil || !whole.Complete {
			t.Fatalf("a run of at most the %d payments there are: %+v, %v; want complete", all, whole, err)
		}

		rep = r.reconcile(t)
		for _, m := range rep.Mismatches {
			if m.TransactionID == out[1].ID {
				if m.Ours.Status != vasp.StatusFailed || m.Node.State != string(lightning.StatusSucceeded) || m.Node.Msats != out[1].Msats || m.Direction != vasp.Outgoing {
					t.Errorf("refunded but sent: %+v", m)
				}
			}
		}
		// In order of transaction id.
		if !slices.IsSortedFunc(rep.Mismatches, func(a, b vasp.Mismatch) int { return strings.Compare(a.TransactionID, b.TransactionID) }) {
			t.Errorf("mismatches not in order: %v", rep.Mismatches)
		}
	})
}

// The periodic reconciliation (ReconcileInterval) sets its metrics — the
// mismatches by kind, the time of the last run — and logs each mismatch
// at ERROR, naming the transaction and payment hash, never the invoice or
// the preimage.
func TestReconcilePeriodically(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		ok, refunded := r.execute(t, vasp.StatusCompleted), r.failed(t)
		p, err := r.h.w.node.Pay(t.Context(), lightning.PayRequest{Invoice: refunded.Invoice, MaxFeeMsat: 1000, Timeout: 10 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("paying the failed invoice again: %s %v", p.Status, err)
		}
		reg := prometheus.NewRegistry()
		var logs syncBuffer
		s := r.h.w.service(t, func(o *vasp.Options) {
			o.ReconcileInterval, o.Registerer, o.Clock = 50*time.Millisecond, reg, vaspd.SystemClock{}
			o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
		})
		runService(t, s)
		kind := "kind=" + vasp.MismatchRefundedButSent
		for deadline := time.Now().Add(10 * time.Second); series(t, reg, "vaspd_reconciliation_last_run_timestamp_seconds")[""] == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no periodic reconciliation in 10 s")
			}
		}
		got := series(t, reg, "vaspd_reconciliation_mismatches")
		for _, k := range vasp.MismatchKinds {
			want := 0.0
			if "kind="+k == kind {
				want = 1
			}
			if got["kind="+k] != want {
				t.Errorf("vaspd_reconciliation_mismatches{%s} = %v, want %v", k, got["kind="+k], want)
			}
		}
		if n := series(t, reg, "vaspd_reconciliation_errors_total")[""]; n != 0 {
			t.Errorf("vaspd_reconciliation_errors_total = %v, want 0", n)
		}
		if logs.count(t, slog.LevelError, refunded.ID) == 0 || logs.count(t, slog.LevelError, refunded.PaymentHash) == 0 {
			t.Errorf("the mismatch of %s is not logged as an error:\n%s", refunded.ID, logs.text())
		}
		if logs.count(t, slog.LevelError, ok.ID) != 0 {
			t.Errorf("a payment that matches is logged as a mismatch:\n%s", logs.text())
		}
		for _, secret := range []string{refunded.Invoice, p.Preimage.String()} {
			if logs.count(t, slog.LevelDebug, secret) != 0 {
				t.Errorf("the log holds an invoice or preimage:\n%s", logs.text())
			}
		}
	})
}

func (s *syncBuffer) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// auditNode is the embedded node with lnd's AuditPayment: the node's
// answer as it is now, here what a later payment made of a hash the
// record (TrackPayment) holds as FAILED.
type auditNode struct {
	*embedded.Node
	audited map[lightning.Hash]lightning.Payment
	failing map[lightning.Hash]bool // their lookups fail (not the node unreachable)
}

func (n auditNode) AuditPayment(ctx context.Context, h lightning.Hash) (lightning.Payment, error) {
	if n.failing[h] {
		return lightning.Payment{}, errors.New("lnd trackpaymentv2: 500 internal error")
	}
	if p, ok := n.audited[h]; ok {
		return p, nil
	}
	return n.Node.TrackPayment(ctx, h)
}

// With a node that can be asked itself (lnd's AuditPayment), the
// reconciliation asks that, not TrackPayment, which with lnd answers a
// payment recorded final from the record: here that one refunded payment
// was sent after all, and another is still being paid.
func TestReconcileAsksTheNodeItself(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		refunded, paying := r.failed(t), r.failed(t)
		hash, hash2 := mustHash(t, refunded.PaymentHash), mustHash(t, paying.PaymentHash)
		node := auditNode{Node: r.h.w.node, audited: map[lightning.Hash]lightning.Payment{
			hash:  {PaymentHash: hash, Status: lightning.StatusSucceeded, AmountMsat: refunded.Msats},
			hash2: {PaymentHash: hash2, Status: lightning.StatusInFlight, AmountMsat: paying.Msats}}}
		r.rs = r.h.w.service(t, func(o *vasp.Options) { o.Node = node })
		wantMismatches(t, r.reconcile(t), map[string]string{refunded.ID: vasp.MismatchRefundedButSent, paying.ID: vasp.MismatchRefundedInFlight})
	})
}

// An incoming payment the node reported settled for less than its
// invoice (failed UNDERPAID, what arrived booked to system:unmatched) is
// checked as booked: settled for that amount, no mismatch; once the node
// says another amount arrived, INCOMING_AMOUNT.
func TestReconcileUnderpaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		in := r.incoming(t, true)
		// The node reports less than the invoice received (as a backend
		// settling an AMP or keysend payment may).
		r.exec(t, `UPDATE ln_embedded_invoices SET amount_paid_msat = amount_msat - 1000 WHERE payment_hash = $1`, in.PaymentHash)
		r.h.w.clock.Advance(2 * time.Minute)
		r.rs.SweepPending(t.Context())
		if got, _ := r.rs.GetTransaction(t.Context(), in.ID); got.Status != vasp.StatusFailed || got.FailureReason != "UNDERPAID" {
			t.Fatalf("the underpaid payment is %s %s, want FAILED UNDERPAID", got.Status, got.FailureReason)
		}
		rep := r.reconcile(t)
		wantMismatches(t, rep, map[string]string{})
		if rep.Checked[vasp.CheckIncomingUnderpaid] != 1 {
			t.Fatalf("checked %v, want one INCOMING_UNDERPAID", rep.Checked)
		}
		r.exec(t, `UPDATE ln_embedded_invoices SET amount_paid_msat = amount_msat WHERE payment_hash = $1`, in.PaymentHash)
		rep = r.reconcile(t)
		wantMismatches(t, rep, map[string]string{in.ID: vasp.MismatchIncomingAmount})
		if m := rep.Mismatches[0]; m.Ours.Msats != in.Msats-1000 || m.Ours.LedgerMsats != in.Msats-1000 || m.Node.Msats != in.Msats {
			t.Fatalf("mismatch %+v: want vaspd's and the ledger's %d against the node's %d", m, in.Msats-1000, in.Msats)
		}
	})
}

// unreachableNode is the embedded node unreachable for invoice lookups, as lnd
// down is: each lookup, once entered is told and release lets it go,
// fails with lightning.ErrUnavailable.
type unreachableNode struct {
	*embedded.Node
	entered chan struct{}
	release chan struct{}
}

func (n unreachableNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	select {
	case n.entered <- struct{}{}:
	default:
	}
	<-n.release
	return lightning.Invoice{}, fmt.Errorf("lnd lookupinvoice: %w: connection refused", lightning.ErrUnavailable)
}

// A run stops at the node's being unreachable (every lookup after would
// fail alike, each maybe after the client's timeout): the report is not
// complete, says why, counts the payments not checked and finds no
// mismatch in them. While it runs, another run of the same process is
// refused (ErrReconcileRunning), not run beside it.
func TestReconcileNodeUnreachable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		first := r.incoming(t, false)
		for range 5 {
			r.incoming(t, false)
		}
		node := unreachableNode{Node: r.h.w.node, entered: make(chan struct{}, 1), release: make(chan struct{})}
		r.rs = r.h.w.service(t, func(o *vasp.Options) { o.Node = node })
		now := r.h.w.clock.Now()
		done := make(chan vasp.Reconciliation)
		go func() {
			rep, err := r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
			if err != nil {
				t.Error(err)
			}
			done <- rep
		}()
		<-node.entered
		if _, err := r.rs.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100); !errors.Is(err, vasp.ErrReconcileRunning) {
			t.Fatalf("a second run beside the first: %v, want ErrReconcileRunning", err)
		}
		close(node.release)
		rep := <-done
		if rep.Complete || !strings.Contains(rep.Incomplete, "unreachable") || rep.Unchecked != 6 || rep.Transactions != 6 || len(rep.Mismatches) != 0 {
			t.Fatalf("report %+v: want incomplete for the node, 6 unchecked, no mismatch", rep)
		}
		// Its lookups concurrent, any of the page may be unchecked: the
		// rest is from the page's first.
		if want := idTime(t, first.ID); !rep.ResumeSince.Equal(want) {
			t.Fatalf("resume since %s, want the first payment's creation as its id tells %s", rep.ResumeSince, want)
		}
	})
}
