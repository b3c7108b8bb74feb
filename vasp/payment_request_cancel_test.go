package vasp_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/delivery"
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
