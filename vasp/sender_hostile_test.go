package vasp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// hostile is a receiving VASP whose lnurlp and payreq answers a test
// scripts, with the sending Service s that talks to it.
type hostile struct {
	w       *world
	s       *vasp.Service
	srv     *httptest.Server
	domain  string
	keys    *uma.Keys
	nodeKey string // our node's pubkey: the invoices below are its own
	// lnurlp edits the signed lnurlp answer before it is signed; payreq
	// answers a payreq.
	lnurlp func(*uma.LnurlpResponse)
	payreq func(rw http.ResponseWriter, pr *uma.PayRequest)
	// pubkey, if set, answers /.well-known/lnurlpubkey (for a Service
	// that fetches keys over HTTP rather than from w.keys).
	pubkey http.HandlerFunc
	// fail reports a payreq of ours the receiver cannot parse (newHostile's
	// t.Errorf; a fuzz target sets its run's).
	fail func(format string, args ...any)
}

func newHostile(t testing.TB, db *store.DB) *hostile {
	t.Helper()
	return hostileIn(t, newWorld(t, db))
}

// hostileIn is a scripted receiving VASP of its own domain in w, beside
// any other.
func hostileIn(t testing.TB, w *world) *hostile {
	t.Helper()
	h := &hostile{w: w, fail: t.Errorf}
	h.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/lnurlp/") {
			resp := &uma.LnurlpResponse{Callback: h.srv.URL + "/cb", MinSendable: 1000, MaxSendable: 1e12,
				Metadata:   uma.BuildMetadata("pay", "$bob@"+h.domain),
				Currencies: []uma.Currency{{Code: "EUR", Decimals: 2, Multiplier: 1000, Convertible: uma.Convertible{Min: 1, Max: 1e9}}},
				PayerData:  uma.UMADataOptions(), UmaVersion: "1.0",
				Compliance: &uma.LnurlComplianceResponse{KycStatus: uma.KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: "$bob@" + h.domain}}
			if h.lnurlp != nil {
				h.lnurlp(resp)
			}
			_ = resp.Sign(h.keys.Signing, time.Now())
			b, _ := resp.MarshalJSON()
			_, _ = rw.Write(b)
			return
		}
		if r.URL.Path == "/.well-known/lnurlpubkey" && h.pubkey != nil {
			h.pubkey(rw, r)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		pr, err := uma.ParsePayRequest(b)
		if err != nil {
			h.fail("our payreq does not parse: %v", err)
			rw.WriteHeader(400)
			return
		}
		h.payreq(rw, pr)
	}))
	t.Cleanup(h.srv.Close)
	h.domain = "localhost:" + strings.TrimPrefix(h.srv.URL, "http://127.0.0.1:")
	h.keys = h.w.counterparty(t, h.domain)
	h.s = h.w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{} })
	info, err := h.w.node.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h.nodeKey = info.PubKey
	h.payreq = h.reply(nil)
	return h
}

// invoice is an invoice of our own node (the embedded node pays itself).
func (h *hostile) invoice(t *testing.T, msats int64, expiry time.Duration) string {
	inv, err := h.w.node.CreateInvoice(context.Background(), lightning.InvoiceRequest{AmountMsat: msats, Expiry: expiry,
		DescriptionHash: lightning.Hash(uma.DescriptionHash("[]", nil))})
	if err != nil {
		t.Error(err)
	}
	return inv.PaymentRequest
}

// reply answers a payreq with a signed response for the amount asked (an
// invoice of a minute), edited by edit.
func (h *hostile) reply(edit func(pr *uma.PayRequest, resp *uma.PayReqResponse)) func(http.ResponseWriter, *uma.PayRequest) {
	return func(rw http.ResponseWriter, pr *uma.PayRequest) {
		msats := pr.Amount
		if pr.SendingCurrency != "" {
			msats = pr.Amount * 1000
		}
		inv, err := h.w.node.CreateInvoice(context.Background(), lightning.InvoiceRequest{AmountMsat: msats, Expiry: time.Minute,
			DescriptionHash: lightning.Hash(uma.DescriptionHash("[]", nil))})
		if err != nil {
			panic(err)
		}
		resp := &uma.PayReqResponse{PR: inv.PaymentRequest,
			Converted: &uma.Converted{Amount: msats / 1000, CurrencyCode: "EUR", Decimals: 2, Multiplier: 1000},
			PayeeData: &uma.PayeeData{Identifier: "$bob@" + h.domain, Compliance: &uma.CompliancePayeeData{NodePubKey: h.nodeKey}}}
		if edit != nil {
			edit(pr, resp)
		}
		_ = resp.Sign(h.keys.Signing, pr.PayerData.Identifier, time.Now())
		b, _ := resp.MarshalJSON()
		_, _ = rw.Write(b)
	}
}

func (h *hostile) lookup(t *testing.T) vasp.Lookup {
	t.Helper()
	l, err := h.s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fund gives alice amount USD cents.
func (h *hostile) fund(t *testing.T, amount int64) {
	t.Helper()
	l := ledger.New(h.w.db, nil)
	err := h.w.db.InTx(t.Context(), func(tx *store.Tx) error {
		_, err := l.Transfer(t.Context(), tx, ledger.Deposit("deposit/"+vaspd.NewID("Test"), h.w.alice.UserID, "USD", amount, "test"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *hostile) quote(t *testing.T, l vasp.Lookup, side string, amount int64) (vasp.Quote, error) {
	return h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
		LockedSide: side, Amount: amount})
}

// fundedQuote gives alice 100,000 USD cents and quotes her sending 1000 of
// them to the receiver.
func (h *hostile) fundedQuote(t *testing.T) vasp.Quote {
	t.Helper()
	h.fund(t, 100_000)
	q, err := h.quote(t, h.lookup(t), vasp.LockedSending, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func wantStatus(t *testing.T, err error, status int, code string) {
	t.Helper()
	if e := vaspd.AsError(err); err == nil || e.Status != status || e.Code != code {
		t.Fatalf("got %v (%d %s), want %d %s", err, e.Status, e.Code, status, code)
	}
}

// A receiver answering two payreqs with one invoice never gets a second
// quote for it: executing both would pay the invoice once but fail the
// second execute with an internal error.
func TestQuoteSameInvoiceTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		l := h.lookup(t)
		var first string
		h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) {
			if first == "" {
				first = r.PR
			}
			r.PR = first
		})
		q1, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err == nil {
			// Executing both must not be an internal error.
			if _, err := h.s.ExecuteQuote(t.Context(), q1.ID, ""); err != nil {
				t.Fatal(err)
			}
			_, err = h.s.ExecuteQuote(t.Context(), q2.ID, "")
			t.Fatalf("second quote %s for the same invoice accepted; its execute: %v", q2.ID, err)
		}
		wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
	})
}

// Two quotes holding one invoice (two payreqs answered at once, before
// either quote was stored): the second execute is refused as such, never
// paid, and its quote stays unexecuted.
func TestExecuteInvoicePaidByAnotherQuote(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		l := h.lookup(t)
		q1, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		q2, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_quotes SET invoice = $1, payment_hash = $2 WHERE id = $3`, q1.Invoice, q1.PaymentHash, q2.ID); err != nil {
			t.Fatal(err)
		}
		if tr, err := h.s.ExecuteQuote(t.Context(), q1.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("first execute: %+v %v", tr, err)
		}
		_, err = h.s.ExecuteQuote(t.Context(), q2.ID, "key-2")
		wantStatus(t, err, 409, "INVOICE_ALREADY_PAID")
		if q, err := h.s.GetQuote(t.Context(), q2.ID); err != nil || q.Status != vasp.QuotePending {
			t.Fatalf("second quote: %+v %v", q, err)
		}
	})
}

// The node the receiver names for screening (payeeData.compliance.
// nodePubKey) is the node its invoice pays: an invoice to another node
// would pay someone the screening never saw.
func TestQuoteInvoiceToAnotherNode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) {
			r.PayeeData.Compliance.NodePubKey = "02" + strings.Repeat("ab", 32)
		})
		_, err := h.quote(t, l, vasp.LockedSending, 1000)
		wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
		// Named in upper case, or not named at all, the invoice's node is fine.
		for _, key := range []string{strings.ToUpper(h.nodeKey), ""} {
			h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.PayeeData.Compliance.NodePubKey = key })
			if _, err := h.quote(t, l, vasp.LockedSending, 1000); err != nil {
				t.Fatalf("nodePubKey %q: %v", key, err)
			}
		}
	})
}

// A quote locks our rate until it expires: an invoice valid for months
// (or dated in the future) must not lock it for months.
func TestQuoteLifeBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
			r.PR = h.invoice(t, pr.Amount, 300*24*time.Hour)
		})
		q, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if life := q.ExpiresAt.Sub(q.CreatedAt); life <= 0 || life > 24*time.Hour {
			t.Fatalf("quote expires %s after it was made", life)
		}
		// A short invoice still sets the quote's expiry.
		h.payreq = h.reply(nil)
		q, err = h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if life := q.ExpiresAt.Sub(q.CreatedAt); life > time.Minute+time.Second {
			t.Fatalf("quote on a one-minute invoice expires %s after it was made", life)
		}
	})
}

// The payreq (our user's payer data, and the invoice we will pay in the
// unsigned part of the answer) goes to the lnurlp callback: it must be an
// absolute https URL (plain http only to a local host, UMA's scheme rule).
func TestLookupCallbackURL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		for _, tc := range []struct {
			callback string
			ok       bool
		}{
			{h.srv.URL + "/cb", true},
			{"https://pay.example.com/cb?u=bob", true},
			{"http://pay.example.com/cb", false},
			{"HTTP://pay.example.com/cb", false},
			{"ftp://pay.example.com/cb", false},
			{"/cb", false},
			{"https:///cb", false},
			{"https://user:pw@pay.example.com/cb", false},
			{"javascript:alert(1)", false},
			{"https://pay.example.com/" + strings.Repeat("x", 2000), false},
		} {
			t.Run(tc.callback[:min(len(tc.callback), 40)], func(t *testing.T) {
				h.lnurlp = func(r *uma.LnurlpResponse) { r.Callback = tc.callback }
				_, err := h.s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
				if tc.ok {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantStatus(t, err, 424, vaspd.CodeLnurlpRequestFailed)
			})
		}
	})
}

// Currencies the receiver offers are checked at lookup: one that breaks
// UMA's rules (multiplier > 0, decimals 0..8, 0 <= min <= max) or repeats
// a code is not offered to the platform, and a receiver left with none
// cannot be paid.
func TestLookupCurrencies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		eur := uma.Currency{Code: "EUR", Decimals: 2, Multiplier: 1000, Convertible: uma.Convertible{Min: 1, Max: 1e9}}
		bad := func(edit func(c *uma.Currency)) uma.Currency {
			c := eur
			c.Code = "GBP"
			edit(&c)
			return c
		}
		h.lnurlp = func(r *uma.LnurlpResponse) {
			r.Currencies = []uma.Currency{
				bad(func(c *uma.Currency) { c.Multiplier = -1000 }),
				bad(func(c *uma.Currency) { c.Code = "JPY"; c.Decimals = 40 }),
				bad(func(c *uma.Currency) { c.Code = "SEK"; c.Decimals = -1 }),
				bad(func(c *uma.Currency) { c.Code = "NOK"; c.Decimals = 5000 }),
				bad(func(c *uma.Currency) { c.Code = "CHF"; c.Convertible = uma.Convertible{Min: 100, Max: 10} }),
				bad(func(c *uma.Currency) { c.Code = "" }),
				eur,
				bad(func(c *uma.Currency) { c.Code = "EUR"; c.Multiplier = 1 }),
			}
		}
		l := h.lookup(t)
		if len(l.Response.Currencies) != 1 || l.Response.Currencies[0] != eur {
			t.Fatalf("currencies offered: %+v", l.Response.Currencies)
		}
		_, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "GBP",
			LockedSide: vasp.LockedReceiving, Amount: 100})
		wantStatus(t, err, 400, vaspd.CodeInvalidInput)
		if _, err := h.quote(t, l, vasp.LockedReceiving, 100); err != nil {
			t.Fatal(err)
		}

		for name, cs := range map[string][]uma.Currency{
			"none valid":  {bad(func(c *uma.Currency) { c.Multiplier = 0 })},
			"two invalid": {bad(func(c *uma.Currency) { c.Decimals = 9 }), bad(func(c *uma.Currency) { c.Convertible.Min = -1 })},
		} {
			t.Run(name, func(t *testing.T) {
				h.lnurlp = func(r *uma.LnurlpResponse) { r.Currencies = cs }
				_, err := h.s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
				wantStatus(t, err, 424, vaspd.CodeLnurlpRequestFailed)
			})
		}
	})
}

// The receiver's conversion is shown to the platform and recorded with the
// payment: negative amounts or fees are refused, and so is a fee larger
// than the whole invoice it is part of.
func TestQuoteNegativeConversion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		for _, tc := range []struct {
			name string
			side string
			edit func(c *uma.Converted)
		}{
			{"sending-locked, negative amount", vasp.LockedSending, func(c *uma.Converted) { c.Amount = -1 }},
			{"sending-locked, negative fee", vasp.LockedSending, func(c *uma.Converted) { c.Fee = -5000 }},
			{"receiving-locked, negative fee", vasp.LockedReceiving, func(c *uma.Converted) { c.Fee = -5000 }},
			{"sending-locked, fee above the invoice", vasp.LockedSending, func(c *uma.Converted) { c.Fee = 2_000_000 }},
			{"receiving-locked, fee above the invoice", vasp.LockedReceiving, func(c *uma.Converted) { c.Fee = 2_000_000 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { tc.edit(r.Converted) })
				_, err := h.quote(t, l, tc.side, 1000)
				wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
			})
		}
	})
}

// The receiver's utxoCallback is where our post-transaction callback goes:
// one that is not an https URL (plain http only to a local host), or is
// oversized, is not kept; the payment goes ahead without a callback.
func TestQuoteUtxoCallbackURL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		l := h.lookup(t)
		for _, tc := range []struct {
			callback string
			kept     bool
		}{
			{h.srv.URL + "/utxo?txid=1", true},
			{"https://pay.example.com/utxo", true},
			{"http://pay.example.com/utxo", false},
			{"gopher://pay.example.com/utxo", false},
			{"https://pay.example.com/" + strings.Repeat("x", 5000), false},
		} {
			t.Run(tc.callback[:min(len(tc.callback), 40)], func(t *testing.T) {
				h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.PayeeData.Compliance.UtxoCallback = tc.callback })
				q, err := h.quote(t, l, vasp.LockedSending, 100)
				if err != nil {
					t.Fatal(err)
				}
				tr, err := h.s.ExecuteQuote(t.Context(), q.ID, "")
				if err != nil {
					t.Fatal(err)
				}
				want := ""
				if tc.kept {
					want = tc.callback
				}
				if tr.Details.UtxoCallback != want {
					t.Fatalf("callback kept: %q, want %q", tr.Details.UtxoCallback, want)
				}
			})
		}
	})
}

// Receiver-locked, the invoice is amount × converted.multiplier +
// converted.fee (UMAD-05, rounding aside): an invoice for more than the
// receiver's own conversion says is refused; one for less is its loss.
func TestQuoteReceiverLockedInvoiceAmount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		for _, tc := range []struct {
			name  string
			msats func(amount int64) int64 // invoice for amount EUR cents at 1000 msats + 500 msats fee
			ok    bool
		}{
			{"exact", func(a int64) int64 { return a*1000 + 500 }, true},
			{"one msat more (rounding)", func(a int64) int64 { return a*1000 + 501 }, true},
			{"less", func(a int64) int64 { return a * 1000 }, true},
			{"twice as much", func(a int64) int64 { return 2 * (a*1000 + 500) }, false},
			{"a sat more", func(a int64) int64 { return a*1000 + 1500 }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
					r.PR = h.invoice(t, tc.msats(pr.Amount), time.Minute)
					r.Converted.Fee = 500
				})
				q, err := h.quote(t, l, vasp.LockedReceiving, 12345)
				if !tc.ok {
					wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
					return
				}
				if err != nil || q.Msats != tc.msats(12345) {
					t.Fatalf("quote %+v: %v", q, err)
				}
			})
		}
		// Without a usable multiplier the invoice cannot be checked.
		h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.Converted.Multiplier = 0 })
		_, err := h.quote(t, l, vasp.LockedReceiving, 12345)
		wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
	})
}

// payeeData.identifier is the receiver we looked up (case aside): an
// answer signed for another address is refused. Absent (the JS SDK), it
// is the address we paid. The payee name we store is bounded.
func TestQuotePayeeIdentifier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		for _, id := range []string{"$mallory@" + h.domain, "$bob@vasp3.example", "bob@" + h.domain} {
			h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.PayeeData.Identifier = id })
			_, err := h.quote(t, l, vasp.LockedSending, 1000)
			wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
		}
		stored := func(q vasp.Quote) (id, name string) {
			var raw string
			if err := db.QueryRowContext(t.Context(), `SELECT details FROM uma_quotes WHERE id = $1`, q.ID).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			var d struct {
				PayeeData struct{ Identifier, Name string } `json:"payeeData"`
			}
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				t.Fatal(err)
			}
			return d.PayeeData.Identifier, d.PayeeData.Name
		}
		long := strings.Repeat("é", 1000)
		h.payreq = h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) {
			r.PayeeData.Identifier = strings.ToUpper("$bob@" + h.domain)
			r.PayeeData.Name = long
		})
		q, err := h.quote(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if id, name := stored(q); !strings.EqualFold(id, "$bob@"+h.domain) || len(name) > 260 ||
			!utf8.ValidString(name) || !strings.HasPrefix(long, strings.TrimSuffix(name, "…")) {
			t.Fatalf("stored payee data %q, %d bytes of name", id, len(name))
		}
		// Without an identifier (signed for bob, then dropped).
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			rec := httptest.NewRecorder()
			h.reply(nil)(rec, pr)
			body := strings.Replace(rec.Body.String(), `,"identifier":"$bob@`+h.domain+`"`, ``, 1)
			if body == rec.Body.String() {
				t.Errorf("no identifier to drop in %s", body)
			}
			_, _ = rw.Write([]byte(body))
		}
		if q, err = h.quote(t, l, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
		if id, _ := stored(q); id != "$bob@"+h.domain {
			t.Fatalf("stored payee identifier %q", id)
		}
	})
}

// Our range for the sending currency (the rates file's min/max) bounds
// what our user spends, whichever side is locked, as it bounds what our
// users receive.
func TestQuoteSendingCurrencyRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		// 1 USD cent = 10,000 msats = 10 EUR cents at the receiver's 1000.
		cfg := rates.Config{Currencies: []rates.CurrencyConfig{{Code: "USD", Decimals: 2, BTCPrice: "100000", Min: 100, Max: 10_000}}}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := h.w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{}; o.Rates = p })
		l, err := s.LookupReceiver(t.Context(), h.w.alice.UserID, "$bob@"+h.domain)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			side   string
			amount int64
			ok     bool
		}{
			{"sending-locked within", vasp.LockedSending, 500, true},
			{"sending-locked below min", vasp.LockedSending, 50, false},
			{"sending-locked above max", vasp.LockedSending, 20_000, false},
			{"receiving-locked within", vasp.LockedReceiving, 5_000, true},
			{"receiving-locked below min", vasp.LockedReceiving, 500, false},
			{"receiving-locked above max", vasp.LockedReceiving, 200_000, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				q, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
					LockedSide: tc.side, Amount: tc.amount})
				if tc.ok {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				if err == nil {
					t.Fatalf("quote sending %d USD cents accepted", q.SendingAmount)
				}
				wantStatus(t, err, 400, vaspd.CodeAmountOutOfRange)
			})
		}
	})
}

// Sender-locked, converted.amount (what the payee is credited) is
// round((invoice msats − converted.fee) / converted.multiplier), rounding
// aside: a receiver crediting nothing, or much less or more, is refused
// (one whose fee leaves less than a unit: quote_too_small_test.go).
func TestQuoteSenderLockedConvertedAmount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		for _, tc := range []struct {
			name string
			edit func(msats int64, c *uma.Converted) // at a multiplier of 1000 msats per cent
			ok   bool
		}{
			{"exact", func(m int64, c *uma.Converted) {}, true},
			{"one more (rounding)", func(m int64, c *uma.Converted) { c.Amount++ }, true},
			{"one less (rounding)", func(m int64, c *uma.Converted) { c.Amount-- }, true},
			{"fee deducted", func(m int64, c *uma.Converted) { c.Fee = 1500; c.Amount = (m - 1500) / 1000 }, true},
			{"nothing", func(m int64, c *uma.Converted) { c.Amount = 0 }, false},
			{"half", func(m int64, c *uma.Converted) { c.Amount /= 2 }, false},
			{"twice", func(m int64, c *uma.Converted) { c.Amount *= 2 }, false},
			{"fee not deducted", func(m int64, c *uma.Converted) { c.Fee = 5000 }, false},
			{"fee above the invoice", func(m int64, c *uma.Converted) { c.Fee = m + 1 }, false},
			{"no multiplier", func(m int64, c *uma.Converted) { c.Multiplier = 0 }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) { tc.edit(pr.Amount, r.Converted) })
				q, err := h.quote(t, l, vasp.LockedSending, 1000)
				if !tc.ok {
					wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if q.ReceivingAmount <= 0 {
					t.Fatalf("quote %+v", q)
				}
			})
		}
	})
}

// converted.decimals is the unit of converted.amount: the quote records
// the receiving amount in the smallest unit of the currency as the lookup
// advertised it (q.ReceivingCurrencyInfo.Decimals). A conversion in
// another unit (whole euros where the lookup said cents) would be booked
// and shown 100 times off, so it is refused, as are decimals UMA does not
// allow.
func TestQuoteConversionDecimals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		l := h.lookup(t)
		for _, tc := range []struct {
			name string
			side string
			edit func(pr *uma.PayRequest, c *uma.Converted)
		}{
			// Whole euros at 100,000 msats each: consistent in itself.
			{"sending-locked, whole euros", vasp.LockedSending, func(pr *uma.PayRequest, c *uma.Converted) {
				c.Decimals, c.Multiplier, c.Amount = 0, 100_000, pr.Amount/100_000
			}},
			{"receiving-locked, decimals 0", vasp.LockedReceiving, func(_ *uma.PayRequest, c *uma.Converted) { c.Decimals = 0 }},
			{"sending-locked, decimals 9", vasp.LockedSending, func(_ *uma.PayRequest, c *uma.Converted) { c.Decimals = 9 }},
			{"receiving-locked, decimals 1000", vasp.LockedReceiving, func(_ *uma.PayRequest, c *uma.Converted) { c.Decimals = 1000 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) { tc.edit(pr, r.Converted) })
				q, err := h.quote(t, l, tc.side, 1000)
				if err == nil {
					t.Fatalf("quote accepted: receiving %d %s recorded with %d decimals", q.ReceivingAmount, q.ReceivingCurrency, q.ReceivingCurrencyInfo.Decimals)
				}
				wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
			})
		}
	})
}
