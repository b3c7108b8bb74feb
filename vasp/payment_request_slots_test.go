package vasp_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A payer's VASP holds at most one unsettled payment of a request naming
// no payer: its payreqs never paid cannot hold every payment the request
// allows, keeping every other payer out. Another of its payreqs, from any
// of its users and however its domain is spelt, is refused INVALID_INVOICE
// while the first is unsettled; another VASP's is answered; and once the
// first's invoice expired unpaid, the VASP may pay it again. Before, the
// request's three payments went to one VASP's three payreqs.
func TestPaymentRequestOnePaymentAtATimePerVASP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		v1 := w.counterparty(t, "vasp1.example")
		w.keys["vasp1.example:443"] = w.keys["vasp1.example"]
		v2 := w.counterparty(t, "vasp2.example")
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 3 })
		pay := func(key *uma.PrivateKey, payer string) error {
			pr := payRequest(t, key, payer, w.clock.Now())
			pr.InvoiceUUID = p.InvoiceUUID
			_, err := s.PayRequest(t.Context(), "bob", pr)
			return err
		}
		wantCode(t, pay(v1.Signing, "$alice@vasp1.example"), "")
		for _, payer := range []string{"$alice@vasp1.example", "$carol@vasp1.example", "$dave@VASP1.example:443"} {
			err := pay(v1.Signing, payer)
			wantCode(t, err, uma.CodeInvalidInvoice)
			if !strings.Contains(err.Error(), "one at a time from a payer's VASP") {
				t.Fatalf("%s: %v", payer, err)
			}
		}
		wantCode(t, pay(v2.Signing, "$erin@vasp2.example"), "")
		if n := countRows(t, db, "uma_transactions"); n != 2 {
			t.Fatalf("%d payments recorded, want 2 (one a VASP)", n)
		}
		w.clock.Advance(10*time.Minute + 2*time.Minute) // our invoices live 10 min (InvoiceExpiry)
		s.SweepPending(t.Context())
		wantCode(t, pay(v1.Signing, "$carol@vasp1.example"), "")
	})
}

// A request naming its payer takes that payer's payreqs up to its
// maxNumPayments at once: no one else may pay it, so its payer holding
// them keeps no one out (a double click or a retried quote each get an
// invoice, the payer's VASP paying once).
func TestPaymentRequestNamedPayerHoldsEveryPayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) {
			in.MaxNumPayments, in.SenderUMA = 2, "$alice@vasp1.example"
		})
		for range 2 {
			if _, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
	})
}

// Payreqs for a request naming no payer, made at once by several
// processes from two VASPs, get one invoice each VASP: each is checked
// where it is recorded, under the request's row lock, so two of one VASP
// cannot both find none of its own unsettled.
func TestPaymentRequestConcurrentPayreqsOneAVASP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		keys := map[string]*uma.Keys{"vasp1.example": w.counterparty(t, "vasp1.example"), "vasp2.example": w.counterparty(t, "vasp2.example")}
		p := newPaymentRequest(t, w.service(t, nil), w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 10 })
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			s := w.service(t, nil) // one process each
			domain := []string{"vasp1.example", "vasp2.example"}[i%2]
			pr := payRequest(t, keys[domain].Signing, "$u"+string(rune('a'+i))+"@"+domain, w.clock.Now())
			pr.InvoiceUUID = p.InvoiceUUID
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.PayRequest(t.Context(), "bob", pr)
			}()
		}
		wg.Wait()
		ok := map[int]int{}
		for i, err := range errs {
			if err == nil {
				ok[i%2]++
			} else if uma.AsError(err).Code != uma.CodeInvalidInvoice {
				t.Errorf("refused with %v", err)
			}
		}
		if ok[0] != 1 || ok[1] != 1 || countRows(t, db, "uma_transactions") != 2 {
			t.Fatalf("answered %v a VASP, %d transactions; want one each", ok, countRows(t, db, "uma_transactions"))
		}
	})
}

// The claim that records a payment checks its VASP again under the
// request's row lock, whatever the payreq's check found before: a payment
// from a VASP whose other payment was recorded since is refused there.
func TestPaymentRequestClaimOnePaymentAtATimePerVASP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 3 })
		record := func(payer string) error {
			now := w.clock.Now()
			tx := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusCreated,
				UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, Counterparty: payer, Currency: "EUR", Amount: 5_00,
				Msats: 5_000_000, PaymentRequestID: p.ID, CreatedAt: now, UpdatedAt: now}
			return db.InTx(t.Context(), func(q *store.Tx) error { return vasp.InsertTransactionIn(t.Context(), q, tx) })
		}
		wantCode(t, record("$alice@vasp1.example"), "")
		wantCode(t, record("$carol@vasp1.example."), uma.CodeInvalidInvoice)
		wantCode(t, record("$erin@vasp2.example"), "")
	})
}
