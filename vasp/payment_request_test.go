package vasp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// newPaymentRequest makes a payment request of 5 EUR for w.bob, tuned.
func newPaymentRequest(t *testing.T, s *vasp.Service, w *world, tune func(*vasp.PaymentRequestInput)) vasp.PaymentRequest {
	t.Helper()
	in := vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "EUR"}
	if tune != nil {
		tune(&in)
	}
	p, err := s.CreatePaymentRequest(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// invoicePayReq is a payreq from $alice@vasp1.example paying invoice
// invoiceUUID: 5 EUR, receiving-currency-locked.
func invoicePayReq(t *testing.T, key *uma.PrivateKey, at time.Time, invoiceUUID string) *uma.PayRequest {
	t.Helper()
	pr := payRequest(t, key, "$alice@vasp1.example", at)
	pr.InvoiceUUID = invoiceUUID
	return pr
}

// The invoice a payment request carries is ours: signed with our signing
// key, naming the user as receiver and our payreq URL as its callback,
// with the amount, currency, expiry and options asked, as an SDK reads it.
func TestPaymentRequestInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		exp := w.clock.Now().Add(2 * time.Hour).Truncate(time.Second)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) {
			in.ExpiresAt, in.CommentCharsAllowed, in.MaxNumPayments = exp, 40, 3
		})
		if p.Status != vasp.PaymentRequestPending || p.Delivery.Status != vasp.DeliveryNone || p.Link != "uma://"+p.Invoice ||
			!p.ExpiresAt.Equal(exp) || p.ReceiverUMA != "$bob@"+ourDomain {
			t.Fatalf("payment request %+v", p)
		}
		inv, err := uma.DecodeInvoice(p.Link)
		if err != nil {
			t.Fatal(err)
		}
		if err := inv.Verify(w.ours.Signing.PublicKey()); err != nil {
			t.Fatalf("our signature: %v", err)
		}
		want := uma.InvoiceCurrency{Code: "EUR", Name: "Euro", Symbol: "€", Decimals: 2}
		if inv.ReceiverUMA != p.ReceiverUMA || inv.InvoiceUUID != p.InvoiceUUID || inv.Amount != 5_00 || inv.ReceivingCurrency != want ||
			inv.Expiration != exp.Unix() || !inv.IsSubjectToTravelRule || inv.UmaVersions != "1.0" || inv.CommentCharsAllowed != 40 ||
			inv.MaxNumPayments != 3 || inv.SenderUMA != "" || inv.KycStatus != uma.KycUnknown ||
			inv.Callback != "https://"+ourDomain+"/api/uma/payreq/bob" {
			t.Fatalf("invoice %+v", inv)
		}
		if !inv.RequiredPayerData[uma.DataIdentifier].Mandatory || !inv.RequiredPayerData[uma.DataCompliance].Mandatory {
			t.Fatalf("required payer data %+v", inv.RequiredPayerData)
		}
		got, err := s.GetPaymentRequest(t.Context(), p.ID)
		if err != nil || got.Invoice != p.Invoice || got.Status != vasp.PaymentRequestPending {
			t.Fatalf("get: %+v, %v", got, err)
		}
		list, err := s.ListPaymentRequests(t.Context(), vasp.PaymentRequestFilter{UserID: w.bob.UserID, Status: vasp.PaymentRequestPending}, "", 10)
		if err != nil || len(list) != 1 || list[0].ID != p.ID {
			t.Fatalf("list: %+v, %v", list, err)
		}
		// Its expiry is its status, which a cancellation does not change.
		w.clock.Advance(2 * time.Hour)
		if got, _ := s.GetPaymentRequest(t.Context(), p.ID); got.Status != vasp.PaymentRequestExpired {
			t.Fatalf("past its expiry: %s", got.Status)
		}
		if _, err := s.CancelPaymentRequest(t.Context(), p.ID); vaspd.AsError(err).Code != vaspd.CodePaymentRequestNotPending {
			t.Fatalf("cancel of an expired request: %v", err)
		}
		if got, _ := s.GetPaymentRequest(t.Context(), p.ID); got.Status != vasp.PaymentRequestExpired || got.CancelledAt != nil {
			t.Fatalf("after a refused cancel: %+v", got)
		}
	})
}

// What a payment request cannot be made of is refused with the platform
// API's error, nothing kept; an Idempotency-Key answers its first request.
func TestPaymentRequestRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		now := w.clock.Now()
		for _, tc := range []struct {
			name   string
			tune   func(*vasp.PaymentRequestInput)
			status int
			code   string
		}{
			{"not a user id", func(in *vasp.PaymentRequestInput) { in.UserID = "bob" }, 400, vaspd.CodeInvalidInput},
			{"no such user", func(in *vasp.PaymentRequestInput) { in.UserID = vaspd.NewID(vaspd.IDUser) }, 404, vaspd.CodeUserNotFound},
			{"no amount", func(in *vasp.PaymentRequestInput) { in.Amount = 0 }, 400, vaspd.CodeInvalidInput},
			{"a currency the user does not receive", func(in *vasp.PaymentRequestInput) { in.Currency = "USD" }, 400, vaspd.CodeInvalidCurrency},
			{"no such currency", func(in *vasp.PaymentRequestInput) { in.Currency = "XYZ" }, 400, vaspd.CodeInvalidCurrency},
			{"too much", func(in *vasp.PaymentRequestInput) { in.Amount = 1e15 }, 400, vaspd.CodeAmountOutOfRange},
			{"expiring too soon", func(in *vasp.PaymentRequestInput) { in.ExpiresAt = now.Add(500 * time.Millisecond) }, 400, vaspd.CodeInvalidInput},
			{"expired", func(in *vasp.PaymentRequestInput) { in.ExpiresAt = now.Add(-time.Hour) }, 400, vaspd.CodeInvalidInput},
			{"expiring too late", func(in *vasp.PaymentRequestInput) { in.ExpiresAt = now.Add(31 * 24 * time.Hour) }, 400, vaspd.CodeInvalidInput},
			{"a sender of ours", func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$alice@" + ourDomain }, 400, vaspd.CodeInvalidInput},
			{"a sender that is no UMA address", func(in *vasp.PaymentRequestInput) { in.SenderUMA = "alice@vasp1.example" }, 400, vaspd.CodeInvalidInput},
			{"a sender's VASP we do not deal with", func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$alice@denied.example" }, 403, vaspd.CodeCounterpartyNotAllowed},
			{"a sender too long for the SDKs", func(in *vasp.PaymentRequestInput) {
				in.SenderUMA = "$alice@" + strings.Repeat("a", 120) + ".example"
			}, 400, vaspd.CodeInvalidInput},
			{"no payments", func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = -1 }, 400, vaspd.CodeInvalidInput},
			{"too many payments", func(in *vasp.PaymentRequestInput) { in.MaxNumPayments = 1001 }, 400, vaspd.CodeInvalidInput},
			{"comments too long", func(in *vasp.PaymentRequestInput) { in.CommentCharsAllowed = vasp.MaxDescriptionLen + 1 }, 400, vaspd.CodeInvalidInput},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := w.service(t, func(o *vasp.Options) { o.Compliance = vasp.DomainPolicy{Deny: []string{"denied.example"}} })
				in := vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "EUR"}
				tc.tune(&in)
				_, err := s.CreatePaymentRequest(t.Context(), in)
				if e := vaspd.AsError(err); err == nil || e.Status != tc.status || e.Code != tc.code {
					t.Fatalf("got %v, want %d %s", err, tc.status, tc.code)
				}
			})
		}
		if n := countRows(t, db, "payment_requests"); n != 0 {
			t.Fatalf("%d payment requests kept", n)
		}
		key := func(in *vasp.PaymentRequestInput) { in.IdempotencyKey = "k1" }
		first := newPaymentRequest(t, s, w, key)
		again := newPaymentRequest(t, s, w, key)
		if again.ID != first.ID || !again.Replayed || again.Invoice != first.Invoice {
			t.Fatalf("replay %+v of %+v", again, first)
		}
		_, err := s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 6_00, Currency: "EUR", IdempotencyKey: "k1"})
		if e := vaspd.AsError(err); e.Status != http.StatusUnprocessableEntity || e.Code != vaspd.CodeIdempotencyKeyReused {
			t.Fatalf("the key for another request: %v", err)
		}
	})
}

// A payreq naming a payment request's invoiceUUID pays it: its payment
// carries the request, its invoice's description hash commits to the
// invoice (["text/uma-invoice", uuid] appended to the metadata), and once
// settled the request is PAID: no payreq pays it again.
func TestPaymentRequestPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)
		p := newPaymentRequest(t, s, w, nil)
		pr := invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID)
		resp, err := s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, "")
		inv, err := bolt11.Decode(resp.PR, "")
		if err != nil {
			t.Fatal(err)
		}
		meta, err := uma.MetadataWithInvoiceUUID(`[["text/plain","Pay to `+ourDomain+` user $bob"],["text/identifier","$bob@`+ourDomain+`"]]`, p.InvoiceUUID)
		if err != nil {
			t.Fatal(err)
		}
		if want := lightning.Hash(uma.DescriptionHash(meta, pr.PayerDataJSON())); inv.DescriptionHash != want {
			t.Fatalf("description hash %s, want %s over %s", inv.DescriptionHash, want, meta)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 5)
		if err != nil || len(ts) != 1 || ts[0].PaymentRequestID != p.ID {
			t.Fatalf("transactions %+v, %v", ts, err)
		}
		// Its invoice is out: another VASP's payreq is refused already.
		other := w.counterparty(t, "vasp2.example")
		_, err = s.PayRequest(t.Context(), "bob", payRequestFor(t, other.Signing, "$erin@vasp2.example", w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
		if pay, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || pay.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", pay, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := s.GetPaymentRequest(t.Context(), p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == vasp.PaymentRequestPaid && got.PaymentCount == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment request %+v after its payment settled", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
		tx, err := s.GetTransaction(t.Context(), ts[0].ID)
		if err != nil || tx.Status != vasp.StatusCompleted {
			t.Fatalf("transaction %+v, %v", tx, err)
		}
		if r := s.Render(t.Context(), tx); !strings.Contains(mustJSON(t, r), `"paymentRequestId":"`+p.ID+`"`) {
			t.Fatalf("the transaction does not name its payment request: %s", mustJSON(t, r))
		}
		_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
		if _, err := s.CancelPaymentRequest(t.Context(), p.ID); vaspd.AsError(err).Code != vaspd.CodePaymentRequestNotPending {
			t.Fatalf("cancel of a paid request: %v", err)
		}
	})
}

// A payreq naming an invoiceUUID that is not a payable request of its
// payee, or not for its amount and currency, is refused with the UMA error
// that says why, before anything is recorded.
func TestPaymentRequestPayreqRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.CommentCharsAllowed = 5 })
		cancelled := newPaymentRequest(t, s, w, nil)
		if c, err := s.CancelPaymentRequest(t.Context(), cancelled.ID); err != nil || c.Status != vasp.PaymentRequestCancelled || c.CancelledAt == nil {
			t.Fatalf("cancel: %+v, %v", c, err)
		}
		if c, err := s.CancelPaymentRequest(t.Context(), cancelled.ID); err != nil || c.Status != vasp.PaymentRequestCancelled {
			t.Fatalf("cancel again: %+v, %v", c, err)
		}
		short := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.ExpiresAt = w.clock.Now().Add(2 * time.Minute) })
		toCarol := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$carol@vasp1.example" })
		toAlice := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$Alice@VASP1.example" })
		for _, tc := range []struct {
			name  string
			local string
			tune  func(*uma.PayRequest)
			code  uma.ErrorCode
		}{
			{"an invoice we never issued", "bob", func(pr *uma.PayRequest) { pr.InvoiceUUID = "0b1e4a44-6c55-4c09-9a3c-0d6c4d3f0c11" }, uma.CodeInvalidInvoice},
			{"another user's invoice", "alice", func(pr *uma.PayRequest) { pr.SendingCurrency, pr.ReceivingCurrency = "USD", "USD" }, uma.CodeInvalidInvoice},
			{"another amount", "bob", func(pr *uma.PayRequest) { pr.Amount = 4_99 }, uma.CodeInvalidInvoice},
			{"another currency", "bob", func(pr *uma.PayRequest) { pr.SendingCurrency, pr.ReceivingCurrency = "USD", "USD" }, uma.CodeInvalidInvoice},
			{"msats locked", "bob", func(pr *uma.PayRequest) { pr.SendingCurrency, pr.Amount = "", 5_000_000 }, uma.CodeInvalidInvoice},
			{"a cancelled invoice", "bob", func(pr *uma.PayRequest) { pr.InvoiceUUID = cancelled.InvoiceUUID }, uma.CodeInvalidInvoice},
			{"an invoice addressed to another payer", "bob", func(pr *uma.PayRequest) { pr.InvoiceUUID = toCarol.InvoiceUUID }, uma.CodeInvalidInvoice},
			{"a longer comment than the invoice allows", "bob", func(pr *uma.PayRequest) { pr.Comment = "six ch" }, uma.CodeInvalidInput},
			// The invoice marks the payer's compliance data mandatory:
			// an unsigned payer, who could hold a request's every
			// payment slot with invoices it never pays, is not one.
			{"a plain LNURL payreq", "bob", func(pr *uma.PayRequest) { pr.PayerData = nil }, uma.CodeMissingMandatoryPayerData},
			{"an expired invoice", "bob", func(pr *uma.PayRequest) {
				pr.InvoiceUUID = short.InvoiceUUID
				w.clock.Advance(3 * time.Minute)
			}, uma.CodeInvoiceExpired},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pr := invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID)
				tc.tune(pr)
				_, err := s.PayRequest(t.Context(), tc.local, pr)
				wantCode(t, err, tc.code)
			})
		}
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
		// Its payer, however the address is written, pays it.
		if _, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), toAlice.InvoiceUUID)); err != nil {
			t.Fatalf("the payer the invoice names: %v", err)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Two payments of one request recorded at once are counted one after the
// other: the second waits for the first's transaction (the request's row
// lock on PostgreSQL, the one writer on SQLite) and then counts it, so a
// request for one payment is refused the second (from another VASP: one
// VASP's payments hold one slot together, takeSlot).
func TestPaymentRequestClaimWaitsForAnother(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, nil)
		payment := func(payer string) vasp.Transaction {
			now := w.clock.Now()
			return vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusCreated,
				UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, Counterparty: payer, Currency: "EUR", Amount: 5_00,
				Msats: 5_000_000, PaymentRequestID: p.ID, CreatedAt: now, UpdatedAt: now}
		}
		claimed := make(chan struct{})
		second := make(chan error, 1)
		go func() {
			<-claimed
			second <- db.InTx(t.Context(), func(tx *store.Tx) error {
				return vasp.InsertTransactionIn(t.Context(), tx, payment("$erin@vasp2.example"))
			})
		}()
		err := db.InTx(t.Context(), func(tx *store.Tx) error {
			if err := vasp.InsertTransactionIn(t.Context(), tx, payment("$alice@vasp1.example")); err != nil {
				return err
			}
			close(claimed)
			time.Sleep(300 * time.Millisecond) // the second claim runs meanwhile
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, <-second, uma.CodeInvalidInvoice)
		if n := countRows(t, db, "uma_transactions"); n != 1 {
			t.Fatalf("%d payments of a request for one", n)
		}
	})
}

// A payer's VASP at an address counterparty-allow-nets does not open is
// never called: the delivery fails saying so, the request kept payable.
func TestPaymentRequestDeliveryRefusedAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var called atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
		t.Cleanup(srv.Close)
		g, err := ssrf.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) {
			o.HTTPClient = &http.Client{Transport: ssrf.NewTransport(g, 5*time.Second), Timeout: 5 * time.Second}
		})
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) {
			in.SenderUMA = "$alice@localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		})
		d := p.Delivery
		if d.Status != vasp.DeliveryFailed || d.Code != string(uma.CodeUMAConfigurationFetchError) ||
			!strings.Contains(d.Message, "counterparty-allow-nets") || called.Load() {
			t.Fatalf("delivery %+v (called: %v)", d, called.Load())
		}
		if got, err := s.GetPaymentRequest(t.Context(), p.ID); err != nil || got.Status != vasp.PaymentRequestPending || got.Delivery.Status != vasp.DeliveryFailed {
			t.Fatalf("kept %+v, %v", got, err)
		}
	})
}

// An Idempotency-Key answers the request it created for as long as it is
// kept, whatever became of it (its expiry passed, as a retry after a long
// outage finds it); and the key with another expiry is another request.
func TestPaymentRequestIdempotencyKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		exp := w.clock.Now().Add(10 * time.Second).Truncate(time.Second)
		in := vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "eur", ExpiresAt: exp, IdempotencyKey: "k-exp"}
		first, err := s.CreatePaymentRequest(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		other := in
		other.ExpiresAt = exp.Add(time.Hour)
		_, err = s.CreatePaymentRequest(t.Context(), other)
		if e := vaspd.AsError(err); e.Status != http.StatusUnprocessableEntity || e.Code != vaspd.CodeIdempotencyKeyReused {
			t.Fatalf("the key for another expiry: %v", err)
		}
		// The platform never got the answer and retries once its
		// request expired: the request it made, not a 400.
		w.clock.Advance(time.Minute)
		again, err := s.CreatePaymentRequest(t.Context(), in)
		if err != nil || again.ID != first.ID || !again.Replayed || again.Status != vasp.PaymentRequestExpired {
			t.Fatalf("retry after its expiry: %+v, %v", again, err)
		}
		if n := countRows(t, db, "payment_requests"); n != 1 {
			t.Fatalf("%d payment requests kept", n)
		}
	})
}

// A payment of a request that ends unpaid gives its place back: the
// invoice of a request for one payment expires unpaid, and another VASP's
// payreq for it is then answered, where it was refused while the first
// invoice could still be paid. Unpaid invoices hold a request for no
// longer than they live.
func TestPaymentRequestExpiredPaymentFreesIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		other := w.counterparty(t, "vasp2.example")
		s := w.service(t, nil)
		p := newPaymentRequest(t, s, w, nil)
		if _, err := s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), p.InvoiceUUID)); err != nil {
			t.Fatal(err)
		}
		_, err := s.PayRequest(t.Context(), "bob", payRequestFor(t, other.Signing, "$erin@vasp2.example", w.clock.Now(), p.InvoiceUUID))
		wantCode(t, err, uma.CodeInvalidInvoice)
		w.clock.Advance(10*time.Minute + 2*time.Minute) // our invoices live 10 min (InvoiceExpiry)
		s.SweepPending(t.Context())
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{PaymentRequestID: p.ID}, "", 5)
		if err != nil || len(ts) != 1 || ts[0].Status != vasp.StatusExpired {
			t.Fatalf("the unpaid payment: %+v, %v", ts, err)
		}
		if got, err := s.GetPaymentRequest(t.Context(), p.ID); err != nil || got.Status != vasp.PaymentRequestPending || got.PaymentCount != 0 {
			t.Fatalf("payment request %+v, %v", got, err)
		}
		if _, err := s.PayRequest(t.Context(), "bob", payRequestFor(t, other.Signing, "$erin@vasp2.example", w.clock.Now(), p.InvoiceUUID)); err != nil {
			t.Fatalf("a payreq once the first invoice expired: %v", err)
		}
	})
}

// A payreq's invoiceUUID is the payer's bytes (any caller's, in a GET
// query): one that is not UTF-8 text, or holds a NUL, was never issued
// by us and is INVALID_INVOICE on every database, before any query.
// PostgreSQL, storing only UTF-8 text, failed the lookup: a 500.
func TestPaymentRequestPayreqUUIDNotText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for _, id := range []string{"\xff", "c7c07fec-cf00-431c-916f-6c13fc4b69f\x00", strings.Repeat("x", 2000)} {
			pr, err := uma.ParsePayRequestQuery(url.Values{"amount": {"1000"}, "invoiceUUID": {id}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.PayRequest(t.Context(), "bob", pr)
			wantCode(t, err, uma.CodeInvalidInvoice)
			_, err = s.PayRequest(t.Context(), "bob", invoicePayReq(t, sender.Signing, w.clock.Now(), id))
			wantCode(t, err, uma.CodeInvalidInvoice)
		}
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
	})
}

// What the payer's VASP answers a delivery with is its own bytes: a NUL
// in the code or reason of its refusal, or in the uma_request_endpoint its
// uma-configuration names, is kept as text (U+FFFD), so that the failed
// delivery is recorded on every database. PostgreSQL refused the update,
// leaving the delivery PENDING as though a crash had cut it short.
func TestPaymentRequestDeliveryRefusalNotText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var host string
		var badEndpoint atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/.well-known/uma-configuration" && badEndpoint.Load():
				io.WriteString(rw, `{"uma_request_endpoint":"http://`+host+`/uma-requests\u0000"}`)
			case r.URL.Path == "/.well-known/uma-configuration":
				io.WriteString(rw, `{"uma_request_endpoint":"http://`+host+`/uma-requests"}`)
			case r.URL.Path == "/uma-requests":
				rw.WriteHeader(http.StatusBadRequest)
				io.WriteString(rw, `{"status":"ERROR","reason":"not\u0000today","code":"NOT\u0000TODAY"}`)
			default:
				http.NotFound(rw, r)
			}
		}))
		t.Cleanup(srv.Close)
		host = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		s := w.service(t, nil)
		for _, bad := range []bool{false, true} {
			badEndpoint.Store(bad)
			p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$alice@" + host })
			got, err := s.GetPaymentRequest(t.Context(), p.ID)
			if err != nil {
				t.Fatal(err)
			}
			d := got.Delivery
			if d.Status != vasp.DeliveryFailed || d.AttemptedAt == nil || strings.Contains(d.Code+d.Message, "\x00") {
				t.Fatalf("bad endpoint %v: delivery kept as %+v, answered %+v", bad, d, p.Delivery)
			}
			if !bad && (d.Code != "NOT\uFFFDTODAY" || !strings.Contains(d.Message, "not\uFFFDtoday")) {
				t.Fatalf("refusal kept as %+v", d)
			}
		}
	})
}

// The Idempotency-Key of a request whose userId was spelt in upper case
// (ids are read in any case) answers it before the body is checked again,
// as it does when spelt as stored: a retry after its expiry is the request
// it made, not a 400.
func TestPaymentRequestIdempotencyKeyUserIDCase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		exp := w.clock.Now().Add(10 * time.Second).Truncate(time.Second)
		typ, hex, _ := strings.Cut(w.bob.UserID, ":")
		in := vasp.PaymentRequestInput{UserID: typ + ":" + strings.ToUpper(hex), Amount: 5_00, Currency: "EUR", ExpiresAt: exp, IdempotencyKey: "k-case"}
		first, err := s.CreatePaymentRequest(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Minute)
		again, err := s.CreatePaymentRequest(t.Context(), in)
		if err != nil || again.ID != first.ID || !again.Replayed {
			t.Fatalf("retry after its expiry, userId %s: %+v, %v", in.UserID, again, err)
		}
	})
}

// A delivery, once begun, is not cut short by the platform's request
// going away (its client gave up waiting): the payer's VASP that takes
// the request is recorded as having taken it, not as unreachable, since
// nothing retries a delivery but the platform, which was not told.
func TestPaymentRequestDeliveryOutlivesCaller(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var host string
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/.well-known/uma-configuration":
				io.WriteString(rw, `{"uma_request_endpoint":"http://`+host+`/uma-requests"}`)
			case "/uma-requests":
				cancel() // the platform gives up while the payer's VASP answers
				time.Sleep(50 * time.Millisecond)
				io.WriteString(rw, `{}`)
			default:
				http.NotFound(rw, r)
			}
		}))
		t.Cleanup(srv.Close)
		host = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		s := w.service(t, nil)
		p, err := s.CreatePaymentRequest(ctx, vasp.PaymentRequestInput{UserID: w.bob.UserID, Amount: 5_00, Currency: "EUR", SenderUMA: "$alice@" + host})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPaymentRequest(t.Context(), p.ID)
		if err != nil || got.Delivery.Status != vasp.DeliveryDelivered {
			t.Fatalf("delivery kept as %+v (answered %+v), %v", got.Delivery, p.Delivery, err)
		}
	})
}
