package vasp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A cancellation committed after the approval's re-check of the request
// (approvedForRequest) and before the invoice is issued gets no invoice
// issued: the issuance reads the cancellation under the request's row lock
// in the transaction that makes the payment payable, so the payreq is
// refused and the payment ends REJECTED. It issued an invoice for the
// cancelled request, which the payer could pay.
func TestPaymentRequestCancelBeforeIssue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		srv := approvalHook(t, func(rw http.ResponseWriter, _ string) { rw.WriteHeader(http.StatusOK) })
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Webhooks = hooks; o.ApprovalTimeout = 5 * time.Second })
		p := newPaymentRequest(t, s, w, nil)
		s.SetBeforeIssue(func(string) {
			if _, err := s.CancelPaymentRequest(t.Context(), p.ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
		})
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{PaymentRequestID: p.ID}, "", 5)
		if err != nil || len(ts) != 1 {
			t.Fatalf("payments %+v, %v", ts, err)
		}
		if ts[0].Status != vasp.StatusRejected || ts[0].Invoice != "" || ts[0].FailureReason != "PAY_REQUEST_FAILED" {
			t.Fatalf("payment %s (%s), invoice %q", ts[0].Status, ts[0].FailureReason, ts[0].Invoice)
		}
		wantEndHooks(t, db, ts[0].ID, "REJECTED/PAY_REQUEST_FAILED")
		if got, err := s.GetPaymentRequest(t.Context(), p.ID); err != nil || got.Status != vasp.PaymentRequestCancelled {
			t.Fatalf("payment request %+v, %v", got, err)
		}
	})
}

// A payment request with a Lightning invoice of it out (a payment PENDING)
// is not cancelled: 409, for the invoice may still be paid, and a
// cancelled request must never be. The payment pays it; once its invoice
// ended unpaid, the request cancels. A cancellation was taken, and the
// invoice's settlement then made the CANCELLED request PAID.
func TestPaymentRequestCancelWithInvoiceOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 2 })
		resp, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, "")
		if _, err := s.CancelPaymentRequest(t.Context(), p.ID); vaspd.AsError(err).Code != vaspd.CodePaymentRequestNotPending {
			t.Fatalf("cancel with an invoice out: %v", err)
		}
		if got, _ := s.GetPaymentRequest(t.Context(), p.ID); got.Status != vasp.PaymentRequestPending || got.CancelledAt != nil {
			t.Fatalf("after a refused cancel: %+v", got)
		}
		if pay, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || pay.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", pay, err)
		}
		waitRequest(t, s, p.ID, func(p vasp.PaymentRequest) bool { return p.PaymentCount == 1 })
		// The second payment's invoice expires unpaid: then it cancels.
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, "")
		if _, err := s.CancelPaymentRequest(t.Context(), p.ID); vaspd.AsError(err).Code != vaspd.CodePaymentRequestNotPending {
			t.Fatalf("cancel with the second invoice out: %v", err)
		}
		w.clock.Advance(12 * time.Minute)
		s.SweepPending(t.Context())
		if got, err := s.CancelPaymentRequest(t.Context(), p.ID); err != nil || got.Status != vasp.PaymentRequestCancelled || got.PaymentCount != 1 {
			t.Fatalf("cancel once no invoice is out: %+v, %v", got, err)
		}
	})
}

// Payreqs for one request and its cancellation, made at once by several
// processes (the platform approving each payment), never leave a cancelled
// request with an invoice out: either the cancellation is refused, an
// invoice having been issued first, or it went first and every payreq after
// it is refused, its payment REJECTED without an invoice.
func TestPaymentRequestCancelRacesPayreqs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		srv := approvalHook(t, func(rw http.ResponseWriter, _ string) { rw.WriteHeader(http.StatusOK) })
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		process := func() *vasp.Service {
			return w.service(t, func(o *vasp.Options) { o.Webhooks = hooks; o.ApprovalTimeout = 5 * time.Second })
		}
		for round := range 4 {
			p := newPaymentRequest(t, process(), w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 3 })
			const n = 4
			var wg sync.WaitGroup
			var cancelErr error
			for i := range n + 1 {
				s := process()
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i == round%n {
						_, cancelErr = s.CancelPaymentRequest(t.Context(), p.ID)
						return
					}
					_, _ = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
				}()
			}
			wg.Wait()
			ts, err := process().ListTransactions(t.Context(), vasp.TransactionFilter{PaymentRequestID: p.ID}, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			out := 0
			for _, tr := range ts {
				if tr.Invoice != "" {
					out++
				}
			}
			got, err := process().GetPaymentRequest(t.Context(), p.ID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case cancelErr == nil && (got.Status != vasp.PaymentRequestCancelled || out != 0):
				t.Fatalf("round %d: cancelled (%s), %d invoices out", round, got.Status, out)
			case cancelErr != nil && (vaspd.AsError(cancelErr).Code != vaspd.CodePaymentRequestNotPending || out == 0 || got.CancelledAt != nil):
				t.Fatalf("round %d: cancel %v with %d invoices out, request %+v", round, cancelErr, out, got)
			}
		}
	})
}

// cancellingPayerVASP serves a payer's VASP on loopback and returns its
// domain: its uma_request_endpoint, given a request, runs cancel first
// (the platform cancelling the request while it is delivered) and takes
// it, or answers 503 when cancel reports false.
func cancellingPayerVASP(t *testing.T, cancel func(r *http.Request) bool) string {
	var host string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/uma-configuration":
			io.WriteString(rw, `{"uma_request_endpoint":"http://`+host+`/uma-requests"}`)
		case "/uma-requests":
			if !cancel(r) {
				rw.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(rw, `{}`)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(srv.Close)
	host = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
	return host
}

// A redelivery answers the request as it is once delivered: cancelled
// while the payer's VASP was called (the platform's cancel answered
// first), it reads CANCELLED with the delivery made, not PENDING as read
// before the call. (The payer's VASP holding a cancelled request is as if
// the cancel had come after: its payreqs are refused.)
func TestPaymentRequestRedeliveryAnswersItAsItIs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var s *vasp.Service
		var cancelID atomic.Value
		host := cancellingPayerVASP(t, func(r *http.Request) bool {
			id, _ := cancelID.Load().(string)
			if id == "" {
				return false
			}
			if _, err := s.CancelPaymentRequest(r.Context(), id); err != nil {
				t.Errorf("cancel: %v", err)
			}
			return true
		})
		s = w.service(t, nil)
		p, err := s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "EUR", SenderUMA: "$alice@" + host})
		if err != nil || p.Delivery.Status != vasp.DeliveryFailed {
			t.Fatalf("made %+v, %v", p, err)
		}
		cancelID.Store(p.ID)
		got, err := s.RedeliverPaymentRequest(t.Context(), p.ID)
		if err != nil || got.Status != vasp.PaymentRequestCancelled || got.CancelledAt == nil || got.Delivery.Status != vasp.DeliveryDelivered {
			t.Fatalf("redelivered: %s, cancelled at %v, delivery %+v; %v", got.Status, got.CancelledAt, got.Delivery, err)
		}
	})
}

// The answer to making a request that names a payer is the request as it
// is once delivered, as a redelivery's is: cancelled by the platform while
// the payer's VASP was called, it reads CANCELLED with the delivery made.
// Before, it read PENDING, as read before the call, and the platform could
// show its user a cancelled request as payable.
func TestPaymentRequestCreateAnswersItAsDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var s *vasp.Service
		host := cancellingPayerVASP(t, func(r *http.Request) bool {
			// The request is stored before it is delivered: the
			// platform may cancel it meanwhile.
			ps, err := s.ListPaymentRequests(r.Context(), vasp.PaymentRequestFilter{UserID: w.bob.UserID}, "", 5)
			if err != nil || len(ps) != 1 {
				t.Errorf("requests while delivered: %+v, %v", ps, err)
				return false
			}
			if _, err := s.CancelPaymentRequest(r.Context(), ps[0].ID); err != nil {
				t.Errorf("cancel: %v", err)
			}
			return true
		})
		s = w.service(t, nil)
		p, err := s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "EUR", SenderUMA: "$alice@" + host})
		if err != nil || p.Status != vasp.PaymentRequestCancelled || p.CancelledAt == nil || p.Delivery.Status != vasp.DeliveryDelivered ||
			p.Delivery.AttemptedAt == nil || p.InvoiceUUID == "" {
			t.Fatalf("made: %s, cancelled at %v, delivery %+v; %v", p.Status, p.CancelledAt, p.Delivery, err)
		}
	})
}
