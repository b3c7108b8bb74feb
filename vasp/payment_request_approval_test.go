package vasp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A payment request cancelled, or expired, while the platform was asked to
// approve a payment of it gets no invoice from that approval: the payreq
// is refused as it would have been a moment later, the payment ends
// REJECTED, and an invoice issued near the request's end expires with it.
func TestPaymentRequestEndsDuringApproval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var s *vasp.Service
		var during func() // what happens while the platform is asked
		srv := approvalHook(t, func(rw http.ResponseWriter, _ string) {
			during()
			rw.WriteHeader(http.StatusOK)
		})
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		s = w.service(t, func(o *vasp.Options) { o.Webhooks = hooks; o.ApprovalTimeout = 5 * time.Second })
		for _, tc := range []struct {
			name   string
			expire time.Duration // the request's life
			during func(p vasp.PaymentRequest)
			code   uma.ErrorCode
		}{
			{"cancelled", time.Hour, func(p vasp.PaymentRequest) {
				if _, err := s.CancelPaymentRequest(t.Context(), p.ID); err != nil {
					t.Errorf("cancel: %v", err)
				}
			}, uma.CodeInvalidInvoice},
			{"expired", 2 * time.Minute, func(vasp.PaymentRequest) { w.clock.Advance(3 * time.Minute) }, uma.CodeInvoiceExpired},
			{"near its end", 2 * time.Minute, func(vasp.PaymentRequest) { w.clock.Advance(90 * time.Second) }, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				exp := w.clock.Now().Add(tc.expire).Truncate(time.Second)
				p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.ExpiresAt = exp })
				during = func() { tc.during(p) }
				resp, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
				wantCode(t, err, tc.code)
				ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{PaymentRequestID: p.ID}, "", 5)
				if err != nil || len(ts) != 1 {
					t.Fatalf("payments %+v, %v", ts, err)
				}
				if tc.code != "" {
					if ts[0].Status != vasp.StatusRejected || ts[0].Invoice != "" {
						t.Fatalf("payment %s (%s), invoice %q", ts[0].Status, ts[0].FailureReason, ts[0].Invoice)
					}
					// The platform that approved it hears of its end.
					wantEndHooks(t, db, ts[0].ID, "REJECTED/PAY_REQUEST_FAILED")
					return
				}
				inv, err := bolt11.Decode(resp.PR, "")
				if err != nil {
					t.Fatal(err)
				}
				// The node dates its invoices by the system clock, the
				// request by the test's: their lives are compared.
				if left := exp.Sub(w.clock.Now()); inv.Expiry > left+time.Second {
					t.Fatalf("the invoice lives %s, its request %s more", inv.Expiry, left)
				}
			})
		}
	})
}
