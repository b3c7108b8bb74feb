package vasp_test

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A payer's VASP holds at most one slot of a request naming no payer,
// however many of its payments are invoiced and unpaid: its payreqs never
// paid cannot hold every payment the request allows, keeping every other
// payer out. Its payreqs from any of its users, however its domain is
// spelt, are answered and take no other slot; another VASP's takes the
// last one, a third VASP is refused INVALID_INVOICE (being paid); once
// the first VASP's invoices expired unpaid, the third may pay it. Before
// the one-a-VASP rule, the request's payments went to one VASP's payreqs.
func TestPaymentRequestOnePaymentAtATimePerVASP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		v1 := w.counterparty(t, "vasp1.example")
		w.keys["vasp1.example:443"] = w.keys["vasp1.example"]
		v2 := w.counterparty(t, "vasp2.example")
		v3 := w.counterparty(t, "vasp3.example")
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 2 })
		pay := func(key *uma.PrivateKey, payer string) error {
			_, err := s.PayRequest(t.Context(), "bob", payRequestFor(t, key, payer, w.clock.Now(), p.InvoiceUUID))
			return err
		}
		for _, payer := range []string{"$alice@vasp1.example", "$carol@vasp1.example", "$dave@VASP1.example:443"} {
			wantCode(t, pay(v1.Signing, payer), "")
		}
		wantCode(t, pay(v2.Signing, "$erin@vasp2.example"), "")
		err := pay(v3.Signing, "$frank@vasp3.example")
		wantCode(t, err, uma.CodeInvalidInvoice)
		if !strings.Contains(err.Error(), "being paid") {
			t.Fatalf("vasp3: %v", err)
		}
		if n := countRows(t, db, "uma_transactions"); n != 4 {
			t.Fatalf("%d payments recorded, want 4 (three of vasp1)", n)
		}
		w.clock.Advance(10*time.Minute + 2*time.Minute) // our invoices live 10 min (InvoiceExpiry)
		s.SweepPending(t.Context())
		wantCode(t, pay(v3.Signing, "$frank@vasp3.example"), "")
	})
}

// A request naming its payer takes that payer's re-quotes (a double
// click, a refreshed or retried quote) while its invoices are out, each
// invoiced and all holding one slot: the payer's VASP pays one. Once
// paid up, it takes no payreq more. Before, a request for one payment
// refused its payer's refreshed quote while the first invoice was out.
func TestPaymentRequestNamedPayerRequotes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$alice@vasp1.example" })
		var last string
		for range 3 {
			resp, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
			if err != nil {
				t.Fatal(err)
			}
			last = resp.PR
		}
		if pay, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: last, Timeout: 10 * time.Second}); err != nil || pay.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", pay, err)
		}
		waitRequest(t, s, p.ID, func(p vasp.PaymentRequest) bool { return p.Status == vasp.PaymentRequestPaid && p.PaymentCount == 1 })
		_, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
	})
}

// Payreqs for a request naming no payer, made at once by several
// processes from four VASPs, two payreqs each, for a request allowing two
// payments: the payments recorded come from two VASPs exactly. Each is
// checked where it is recorded, under the request's row lock, so a third
// VASP cannot find a slot that another took meanwhile.
func TestPaymentRequestConcurrentPayreqsOneAVASP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		domains := []string{"vasp1.example", "vasp2.example", "vasp3.example", "vasp4.example"}
		keys := map[string]*uma.Keys{}
		for _, d := range domains {
			keys[d] = w.counterparty(t, d)
		}
		p := newPaymentRequest(t, w.service(t, nil), w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 2 })
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			s := w.service(t, nil) // one process each
			domain := domains[i%len(domains)]
			pr := payRequestFor(t, keys[domain].Signing, "$u"+string(rune('a'+i))+"@"+domain, w.clock.Now(), p.InvoiceUUID)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.PayRequest(t.Context(), "bob", pr)
			}()
		}
		wg.Wait()
		ok, answered := map[string]int{}, 0
		for i, err := range errs {
			if err == nil {
				ok[domains[i%len(domains)]]++
				answered++
			} else if uma.AsError(err).Code != uma.CodeInvalidInvoice {
				t.Errorf("refused with %v", err)
			}
		}
		if len(ok) != 2 || countRows(t, db, "uma_transactions") != answered {
			t.Fatalf("answered %v a VASP, %d transactions; want two VASPs", ok, countRows(t, db, "uma_transactions"))
		}
	})
}

// The claim that records a payment checks its VASP and the request's
// slots again under the request's row lock, whatever the payreq's check
// found before: a payment from a VASP holding no slot is refused there once
// none is left. One from a VASP whose other payment waits for approval
// takes no other slot and is answered: that payment may be one a stopped
// process left CREATED, which nothing ends until sweepCreated, a minute
// past its deadline (refused, the VASP's re-quotes were held back as long,
// and the payment crash test's second quote of an UMA request until its
// run gave up).
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
		wantCode(t, record("$carol@vasp1.example."), "")
		wantCode(t, record("$erin@vasp2.example"), "")
		// vasp2's re-quote, its payment now invoiced, takes no other slot;
		// a third VASP takes the last, a fourth none.
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET status = $1`, vasp.StatusPending); err != nil {
			t.Fatal(err)
		}
		wantCode(t, record("$erin@VASP2.example"), "")
		wantCode(t, record("$frank@vasp3.example"), "")
		wantCode(t, record("$gina@vasp4.example"), uma.CodeInvalidInvoice)
	})
}

// A VASP re-quoting a request naming no payer (a refresh of its quote, or
// a payreq retried whose answer it lost) is answered while its earlier
// invoice is still unpaid: all of one VASP's invoiced payments hold one
// of the request's payments, not one each. With two allowed, vasp1's two
// payreqs hold one and vasp2 takes the other; vasp3 is then refused
// (paid, or being paid) while vasp1 may still re-quote. Before, vasp1's
// second payreq was refused INVALID_INVOICE (one at a time from a payer's
// VASP).
func TestPaymentRequestRequoteKeepsOneSlot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		keys := map[string]*uma.Keys{}
		for _, d := range []string{"vasp1.example", "vasp2.example", "vasp3.example"} {
			keys[d] = w.counterparty(t, d)
		}
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 2 })
		pay := func(payer, domain string) error {
			_, err := s.PayRequest(t.Context(), "bob", payRequestFor(t, keys[domain].Signing, payer+"@"+domain, w.clock.Now(), p.InvoiceUUID))
			return err
		}
		wantCode(t, pay("$alice", "vasp1.example"), "")
		w.clock.Advance(time.Minute)
		wantCode(t, pay("$alice", "vasp1.example"), "") // the refresh
		wantCode(t, pay("$erin", "vasp2.example"), "")
		err := pay("$frank", "vasp3.example")
		wantCode(t, err, uma.CodeInvalidInvoice)
		if !strings.Contains(err.Error(), "being paid") {
			t.Fatalf("vasp3 refused with %v", err)
		}
		wantCode(t, pay("$alice", "vasp1.example"), "") // vasp1's slot is its own
		if n := countRows(t, db, "uma_transactions"); n != 4 {
			t.Fatalf("%d payments recorded, want 4 (three of vasp1)", n)
		}
	})
}

// payRequestFor is a signed payreq from payer, at at, paying invoiceUUID
// (its amount, EUR 5.00 as newPaymentRequest asks, receiving-currency-locked).
func payRequestFor(t *testing.T, key *uma.PrivateKey, payer string, at time.Time, invoiceUUID string) *uma.PayRequest {
	t.Helper()
	pr := payRequest(t, key, payer, at)
	pr.InvoiceUUID = invoiceUUID
	return pr
}

// A VASP that re-quoted and then pays both of its invoices is credited
// both: an invoice settled is money that arrived (credit), whatever the
// request's count. The request, for one payment, reads PAID with a
// paymentCount of 2 (past maxNumPayments, as a payment settled after its
// expiry makes it), and takes no payreq more. The payment past the limit
// is told: a warning naming it and its request, and
// vaspd_payment_request_payments_past_max_total; the first is not. Before,
// nothing but the request's count told it.
func TestPaymentRequestRequotedBothPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		other := w.counterparty(t, "vasp2.example")
		reg := prometheus.NewRegistry()
		var logs syncBuffer
		s := w.service(t, func(o *vasp.Options) {
			o.Registerer, o.Log = reg, slog.New(slog.NewJSONHandler(&logs, nil))
		})
		runService(t, s)
		p := newPaymentRequest(t, s, w, nil)
		first, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, "")
		second, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, "")
		_, err = s.PayRequest(t.Context(), "bob", payRequestFor(t, other.Signing, "$erin@vasp2.example", w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
		for _, pr := range []string{first.PR, second.PR} {
			if pay, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr, Timeout: 10 * time.Second}); err != nil || pay.Status != lightning.StatusSucceeded {
				t.Fatalf("pay: %+v, %v", pay, err)
			}
		}
		waitRequest(t, s, p.ID, func(p vasp.PaymentRequest) bool { return p.Status == vasp.PaymentRequestPaid && p.PaymentCount == 2 })
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{PaymentRequestID: p.ID}, "", 5)
		if err != nil || len(ts) != 2 || ts[0].Status != vasp.StatusCompleted || ts[1].Status != vasp.StatusCompleted {
			t.Fatalf("payments %+v, %v", ts, err)
		}
		if b := balance(t, db, ledger.UserAccount(w.bob.UserID), "EUR"); b != 2*5_00 {
			t.Fatalf("bob's balance %d, want both payments credited", b)
		}
		// Told once the credit committed: a moment after the request reads so.
		past := func() float64 { return series(t, reg, "vaspd_payment_request_payments_past_max_total")[""] }
		for end := time.Now().Add(5 * time.Second); past() == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := past(); n != 1 {
			t.Fatalf("payments past max counted %v, want 1", n)
		}
		if n := logs.count(t, slog.LevelWarn, "past its maxNumPayments"); n != 1 || logs.count(t, slog.LevelWarn, p.ID) != 1 {
			t.Fatalf("%d warnings of a payment past maxNumPayments naming %s, want 1", n, p.ID)
		}
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
	})
}

// The slots of a request allowing the most payments
// (MaxPaymentRequestPayments), all but one taken by COMPLETED payments and
// the last held by one VASP with thousands of invoices out to as many of
// its users: another VASP is refused (being paid), that VASP's re-quote
// answered. Each claim reads the slots under the request's row lock, so
// its cost is logged: counted in SQL (the COMPLETED payments) and cut short
// once the slots are over-taken, it no longer reads every paying row.
func TestPaymentRequestSlotsManyPayments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = vasp.MaxPaymentRequestPayments })
		const completed, open = vasp.MaxPaymentRequestPayments - 1, 3000
		payment := func(status, payer string) vasp.Transaction {
			now := w.clock.Now()
			return vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: status,
				UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, Counterparty: payer, Currency: "EUR", Amount: 5_00,
				Msats: 5_000_000, CreatedAt: now, UpdatedAt: now}
		}
		// Recorded as no request's (no claim each), then made its.
		err := db.InTx(t.Context(), func(q *store.Tx) error {
			for i := range completed + open {
				st, payer := vasp.StatusCompleted, "$u"+strconv.Itoa(i)+"@done"+strconv.Itoa(i)+".example"
				if i >= completed {
					st, payer = vasp.StatusPending, "$u"+strconv.Itoa(i)+"@vasp1.example"
				}
				if err := vasp.InsertTransactionIn(t.Context(), q, payment(st, payer)); err != nil {
					return err
				}
			}
			_, err := q.ExecContext(t.Context(), `UPDATE uma_transactions SET payment_request_id = $1`, p.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		record := func(payer string) error {
			tx := payment(vasp.StatusCreated, payer)
			tx.PaymentRequestID = p.ID
			start := time.Now()
			defer func() { t.Logf("claim by %s: %s", payer, time.Since(start)) }()
			return db.InTx(t.Context(), func(q *store.Tx) error { return vasp.InsertTransactionIn(t.Context(), q, tx) })
		}
		for range 3 {
			wantCode(t, record("$erin@vasp2.example"), uma.CodeInvalidInvoice)
		}
		for range 3 {
			wantCode(t, record("$alice@VASP1.example"), "")
		}
		wantCode(t, record("$frank@vasp3.example"), uma.CodeInvalidInvoice)
	})
}

// A VASP that paid one payment of a request and still has an invoice of
// it out holds two slots, the paid one and the invoice, which may still be
// paid; its next payreq takes no third: the invoice out and the new one
// are its one next payment (the invoice out most likely the quote it made
// twice and paid once), and taking a third would refuse that payment, or
// another VASP's, until the invoice expires. With three allowed, vasp1's
// next payreq and vasp2's are answered, and vasp3 is refused.
func TestPaymentRequestPaidVASPKeepsItsSlots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 3 })
		record := func(status, payer string) error {
			now := w.clock.Now()
			tx := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: status,
				UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, Counterparty: payer, Currency: "EUR", Amount: 5_00,
				Msats: 5_000_000, PaymentRequestID: p.ID, CreatedAt: now, UpdatedAt: now}
			return db.InTx(t.Context(), func(q *store.Tx) error { return vasp.InsertTransactionIn(t.Context(), q, tx) })
		}
		wantCode(t, record(vasp.StatusCompleted, "$alice@vasp1.example"), "")
		wantCode(t, record(vasp.StatusPending, "$alice@vasp1.example"), "")
		wantCode(t, record(vasp.StatusCreated, "$alice@vasp1.example"), "")
		wantCode(t, record(vasp.StatusCreated, "$erin@vasp2.example"), "")
		wantCode(t, record(vasp.StatusCreated, "$frank@vasp3.example"), uma.CodeInvalidInvoice)
	})
}
