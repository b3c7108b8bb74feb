package vasp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// endHooks are the INCOMING_PAYMENT webhooks enqueued for transaction id
// other than its approval ask (PENDING), as "STATUS/failureReason", each
// checked against the UMAaaS schema when the document is present.
func endHooks(t *testing.T, db *store.DB, id string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT payload FROM webhook_events WHERE type = 'INCOMING_PAYMENT' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	spec := specschema.IfShared(t)
	var out []string
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Transaction struct{ ID, Status, FailureReason string }
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("webhook payload %s: %v", b, err)
		}
		if m.Transaction.ID != id || m.Transaction.Status == vasp.StatusPending {
			continue
		}
		if spec != nil {
			if r := spec.CheckNamed("IncomingPaymentWebhook", b); !r.OK() {
				t.Fatalf("webhook breaks the UMAaaS schema:\n%s\n%s", r, b)
			}
		}
		out = append(out, m.Transaction.Status+"/"+m.Transaction.FailureReason)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantEndHooks(t *testing.T, db *store.DB, id string, want ...string) {
	t.Helper()
	got := endHooks(t, db, id)
	if len(got) != len(want) {
		t.Fatalf("transaction %s: end webhooks %q, want %q", id, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("transaction %s: end webhooks %q, want %q", id, got, want)
		}
	}
}

// A payment the platform was asked about and that the approval flow
// rejects, whatever the platform's answer (or its absence), ends with one
// INCOMING_PAYMENT REJECTED webhook enqueued with the rejection: the
// platform that answered 200 too late, or whose answer never arrived, has
// its PENDING record closed.
func TestApprovalRejectionsAnnounced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var mu sync.Mutex
		var reply func(http.ResponseWriter)
		var asked string // the transaction the last approval ask named
		srv := approvalHook(t, func(rw http.ResponseWriter, txID string) {
			mu.Lock()
			asked = txID
			f := reply
			mu.Unlock()
			f(rw)
		})
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		// The deadline bounds the whole ask: the payreq's work before the
		// webhook, the webhook's enqueue and its round trip. Answers that
		// must count get a deadline they cannot miss, even under -race on
		// a loaded machine; the deadline that must pass is short, but not
		// so short that the ask could miss it and reach nobody.
		const deadline = 2 * time.Second
		// Two processes of one VASP, sharing one registry as they would
		// share a Prometheus: each rejection is counted once.
		reg := prometheus.NewRegistry()
		answered := w.service(t, func(o *vasp.Options) { o.Webhooks, o.ApprovalTimeout, o.Registerer = hooks, time.Minute, reg })
		timesOut := w.service(t, func(o *vasp.Options) { o.Webhooks, o.ApprovalTimeout, o.Registerer = hooks, deadline, reg })
		status := func(code int) func(http.ResponseWriter) {
			return func(rw http.ResponseWriter) { rw.WriteHeader(code) }
		}
		var returned chan struct{} // closed once the payreq has its answer
		for _, tc := range []struct {
			name  string
			s     *vasp.Service
			reply func(http.ResponseWriter)
			want  string
		}{
			{"403", answered, status(403), "REJECTED/"},
			{"422", answered, status(422), "REJECTED/"},
			{"500", answered, status(500), "REJECTED/PAYMENT_APPROVAL_WEBHOOK_ERROR"},
			{"202 and no decision", timesOut, status(202), "REJECTED/PAYMENT_APPROVAL_TIMED_OUT"},
			{"200 after the deadline", timesOut, func(rw http.ResponseWriter) {
				mu.Lock()
				r := returned
				mu.Unlock()
				<-r
				rw.WriteHeader(200)
			}, "REJECTED/PAYMENT_APPROVAL_TIMED_OUT"},
			{"connection dropped", answered, func(rw http.ResponseWriter) {
				c, _, err := rw.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
			}, "REJECTED/PAYMENT_APPROVAL_WEBHOOK_ERROR"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				mu.Lock()
				reply, asked, returned = tc.reply, "", make(chan struct{})
				mu.Unlock()
				_, err := tc.s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
				close(returned)
				if err == nil {
					t.Fatal("the payreq was answered")
				}
				mu.Lock()
				id := asked
				mu.Unlock()
				if id == "" {
					t.Fatal("the platform was not asked")
				}
				wantEndHooks(t, db, id, tc.want)
				wantEndsCounted(t, reg, db)
			})
		}
	})
}

// A payment left CREATED past its deadline ends REJECTED with one webhook,
// however many processes sweep it; a sweep whose conditional update loses
// (the payment ended after the sweep read it) enqueues nothing.
func TestStaleCreatedEndsAnnounced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.ApprovalTimeout = 5 * time.Second })
		other := w.service(t, func(o *vasp.Options) { o.ApprovalTimeout = 5 * time.Second })
		created := func(approval string) string { return insertCreated(t, w, s, approval) }
		crashed, approved, refused := created(""), created("APPROVED"), created("REJECTED")
		w.clock.Advance(2 * time.Minute)
		var wg sync.WaitGroup
		for _, p := range []*vasp.Service{s, other, s} {
			wg.Add(1)
			go func() { defer wg.Done(); p.SweepCreated(context.Background()) }()
		}
		wg.Wait()
		wantEndHooks(t, db, crashed, "REJECTED/PAYMENT_APPROVAL_TIMED_OUT")
		wantEndHooks(t, db, approved, "REJECTED/PAY_REQUEST_FAILED")
		wantEndHooks(t, db, refused, "REJECTED/")
		// Sweeps that read the payments before they ended, with the
		// decisions they had then.
		other.EndCreated(t.Context(), crashed, "")
		other.EndCreated(t.Context(), approved, "APPROVED")
		other.EndCreated(t.Context(), refused, "REJECTED")
		wantEndHooks(t, db, crashed, "REJECTED/PAYMENT_APPROVAL_TIMED_OUT")
		wantEndHooks(t, db, approved, "REJECTED/PAY_REQUEST_FAILED")
		wantEndHooks(t, db, refused, "REJECTED/")
	})
}

// raceNode is the real node whose LookupInvoice first lets another
// process act: that process ends the payment between the sweep's read
// and its update.
type raceNode struct {
	lightning.Node
	before func()
}

func (n raceNode) LookupInvoice(ctx context.Context, h lightning.Hash) (lightning.Invoice, error) {
	n.before()
	return n.Node.LookupInvoice(ctx, h)
}

// A payment whose invoice expired unpaid ends EXPIRED with one
// INCOMING_PAYMENT webhook (QUOTE_EXPIRED); the sweep that finds it
// already expired by another process enqueues nothing.
func TestExpiredPaymentAnnouncedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		other := w.service(t, func(o *vasp.Options) { o.InvoiceExpiry = time.Minute })
		s := w.service(t, func(o *vasp.Options) {
			o.InvoiceExpiry = time.Minute
			o.Node = raceNode{Node: w.node, before: func() { other.SweepPending(context.Background()) }}
		})
		if _, err := other.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())); err != nil {
			t.Fatal(err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %v", err)
		}
		w.clock.Advance(time.Hour)
		s.SweepPending(t.Context())
		if got := statusOf(t, s, ts[0].ID); got != vasp.StatusExpired+"/INVOICE_EXPIRED" {
			t.Fatalf("payment is %s, want EXPIRED", got)
		}
		wantEndHooks(t, db, ts[0].ID, "EXPIRED/QUOTE_EXPIRED")
		w.clock.Advance(time.Hour)
		s.SweepPending(t.Context())
		wantEndHooks(t, db, ts[0].ID, "EXPIRED/QUOTE_EXPIRED")
	})
}

// A disabled endpoint was never asked: the platform heard nothing of the
// payment, and hears nothing of its rejection.
func TestUnaskedRejectionNotAnnounced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		e, _, _, err := hooks.ConfigurePrimary(t.Context(), "http://127.0.0.1:1/hooks")
		if err != nil {
			t.Fatal(err)
		}
		off := false
		if _, err := hooks.UpdateEndpoint(t.Context(), e.ID, delivery.EndpointInput{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Webhooks = hooks })
		_, err = s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
		wantCode(t, err, uma.CodeSenderNotAccepted)
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 || ts[0].Status != vasp.StatusRejected {
			t.Fatalf("list: %+v, %v", ts, err)
		}
		wantEndHooks(t, db, ts[0].ID)
	})
}

// noInvoiceNode stores invoices itself (as lnd does) and cannot create one.
type noInvoiceNode struct{ lightning.Node }

func (noInvoiceNode) CreateInvoice(context.Context, lightning.InvoiceRequest) (lightning.Invoice, error) {
	return lightning.Invoice{}, lightning.ErrUnavailable
}

// An approved payment our node could give no invoice ends REJECTED with
// PAY_REQUEST_FAILED, in the webhook and the API: a REJECTED with no
// reason is the platform's own refusal, which this is not.
func TestInvoiceCreationFailureAnnounced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var mu sync.Mutex
		var asked string
		srv := approvalHook(t, func(rw http.ResponseWriter, txID string) {
			mu.Lock()
			asked = txID
			mu.Unlock()
			rw.WriteHeader(200) // approves
		})
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Webhooks, o.Node = hooks, noInvoiceNode{w.node} })
		if _, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now())); err == nil {
			t.Fatal("a payreq with no invoice was answered")
		}
		mu.Lock()
		defer mu.Unlock()
		if asked == "" {
			t.Fatal("the platform was not asked")
		}
		if got := statusOf(t, s, asked); got != vasp.StatusRejected+"/INVOICE_CREATION_FAILED" {
			t.Fatalf("payment is %s", got)
		}
		wantSpecTransaction(t, s, asked, "PAY_REQUEST_FAILED")
		wantEndHooks(t, db, asked, "REJECTED/PAY_REQUEST_FAILED")
	})
}
