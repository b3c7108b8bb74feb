package vasp_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// waitRequest polls payment request id until want says it is as wanted.
func waitRequest(t *testing.T, s *vasp.Service, id string, want func(vasp.PaymentRequest) bool) vasp.PaymentRequest {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.GetPaymentRequest(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if want(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("payment request %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A payment request whose expiresAt passes while an invoice issued for it
// may still be paid reads PROCESSING, not EXPIRED: no payreq is taken for
// it, and the invoice's settlement completes it (PAID), where it read
// EXPIRED and then PAID. It reads EXPIRED once that payment ended unpaid.
func TestPaymentRequestExpiryWaitsForItsInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)
		paid := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.ExpiresAt = w.clock.Now().Add(2 * time.Minute) })
		unpaid := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.ExpiresAt = w.clock.Now().Add(2 * time.Minute) })
		resp, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), paid.InvoiceUUID))
		wantCode(t, err, "")
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), unpaid.InvoiceUUID))
		wantCode(t, err, "")
		w.clock.Advance(3 * time.Minute)
		for _, id := range []string{paid.ID, unpaid.ID} {
			if got, _ := s.GetPaymentRequest(t.Context(), id); got.Status != vasp.PaymentRequestProcessing {
				t.Fatalf("past its expiry, its invoice out: %s", got.Status)
			}
		}
		if l, err := s.ListPaymentRequests(t.Context(), vasp.PaymentRequestFilter{Status: vasp.PaymentRequestExpired}, "", 5); err != nil || len(l) != 0 {
			t.Fatalf("listed EXPIRED: %+v, %v", l, err)
		}
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), paid.InvoiceUUID))
		wantCode(t, err, uma.CodeInvoiceExpired)
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		waitRequest(t, s, paid.ID, func(p vasp.PaymentRequest) bool { return p.Status == vasp.PaymentRequestPaid && p.PaymentCount == 1 })
		// The other's invoice expires unpaid: the sweep ends its payment.
		w.clock.Advance(10 * time.Minute)
		s.SweepPending(t.Context())
		waitRequest(t, s, unpaid.ID, func(p vasp.PaymentRequest) bool { return p.Status == vasp.PaymentRequestExpired && p.PaymentCount == 0 })
	})
}

// An invoice the sweep expired by our clock and that the node settles all
// the same (its clock behind ours) is money that arrived: its payment is
// credited, and counts, though another payment took its place meanwhile.
// The request reads PAID with both payments: PaymentCount may exceed
// MaxNumPayments this way only, and no payreq is taken for it.
func TestPaymentRequestPaidAfterAllCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)
		p := newPaymentRequest(t, s, w, nil)
		first, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, "")
		w.clock.Advance(12 * time.Minute) // our invoices live 10 min
		s.SweepPending(t.Context())
		second, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, "")
		for _, pr := range []string{second.PR, first.PR} { // the node's clock: both still payable
			if pay, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr, Timeout: 10 * time.Second}); err != nil || pay.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", pay, err)
			}
		}
		s.SweepPending(t.Context())
		waitRequest(t, s, p.ID, func(p vasp.PaymentRequest) bool { return p.Status == vasp.PaymentRequestPaid && p.PaymentCount == 2 })
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{PaymentRequestID: p.ID}, "", 5)
		if err != nil || len(ts) != 2 || ts[0].Status != vasp.StatusCompleted || ts[1].Status != vasp.StatusCompleted {
			t.Fatalf("payments %+v, %v", ts, err)
		}
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
	})
}

// A payment is claimed against its request when it is recorded, and the
// request's expiry is read then: a request that expired between the
// payreq's pricing (the payment's createdAt) and its recording, the
// recording waiting (here: a clock moved past the expiry, as a wait for
// the database's writer or the node would), gets no payment nor invoice.
// The claim read the expiry at the payment's createdAt, recording a
// PENDING payment whose invoice was handed out after the request expired.
func TestPaymentRequestClaimedAtItsRecording(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.ExpiresAt = w.clock.Now().Add(2 * time.Minute) })
		pr := invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID)
		s.SetAfterRecipientCheck(func(string) { w.clock.Advance(3 * time.Minute) })
		_, err := s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, uma.CodeInvoiceExpired)
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d payments recorded of a request expired before", n)
		}
	})
}
