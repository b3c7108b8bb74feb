package vasp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A quote's description goes to the receiver as the payreq comment only
// within the commentAllowed its lookup advertised (LUD-12, characters): a
// longer one is refused with 400 before any payreq is sent; a receiver
// that takes no comments (0 or absent) is sent none.
func TestQuoteDescriptionCommentAllowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		var payreqs int
		var got string
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			payreqs++
			got = pr.Comment
			h.reply(nil)(rw, pr)
		}
		quote := func(l vasp.Lookup, desc string) error {
			_, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
				LockedSide: vasp.LockedSending, Amount: 1000, Description: desc})
			return err
		}
		h.lnurlp = func(r *uma.LnurlpResponse) { r.CommentAllowed = 10 }
		l := h.lookup(t)
		err := quote(l, strings.Repeat("é", 11))
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeInvalidInput)
		if e := vaspd.AsError(err); !strings.Contains(e.Message, "at most 10") || e.Details["commentAllowed"] != 10 {
			t.Fatalf("error %q %v does not name the receiver's limit", e.Message, e.Details)
		}
		if payreqs != 0 {
			t.Fatalf("%d payreqs sent for a description the receiver refuses", payreqs)
		}
		if err := quote(l, strings.Repeat("é", 10)); err != nil || got != strings.Repeat("é", 10) {
			t.Fatalf("quote at the limit: %v; comment sent %q", err, got)
		}

		for _, allowed := range []int{0, -1} { // absent, and nonsense (read as 0)
			h.lnurlp = func(r *uma.LnurlpResponse) { r.CommentAllowed = allowed }
			l := h.lookup(t)
			payreqs, got = 0, "?"
			if err := quote(l, "thanks"); err != nil || payreqs != 1 || got != "" {
				t.Fatalf("commentAllowed %d: %v; %d payreqs, comment %q; want one without a comment", allowed, err, payreqs, got)
			}
		}
	})
}

// umaRequest is an UMA request for 1250 EUR cents (€12.50) that the
// receiver's bob sends alice, its invoice edited by edit, as our VASP
// received it.
func (h *hostile) umaRequest(t *testing.T, edit func(inv *uma.Invoice)) vasp.UmaRequest {
	t.Helper()
	inv := &uma.Invoice{
		ReceiverUMA: "$bob@" + h.domain, InvoiceUUID: uuid.NewString(), Amount: 1250,
		ReceivingCurrency: uma.InvoiceCurrency{Code: "EUR", Name: "Euro", Symbol: "€", Decimals: 2},
		Expiration:        time.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
		UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain, Callback: h.srv.URL + "/cb",
	}
	if edit != nil {
		edit(inv)
	}
	body := umaRequestBody(t, h.keys.Signing, inv)
	r, err := h.s.ReceiveUmaRequest(t.Context(), body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Paying an UMA request, the invoice's commentCharsAllowed is the limit
// too: a description past it is refused before any payreq is sent.
func TestQuoteUmaRequestCommentCharsAllowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		var payreqs int
		var got string
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			payreqs++
			got = pr.Comment
			h.reply(nil)(rw, pr)
		}
		quote := func(l vasp.Lookup, r vasp.UmaRequest, desc string) error {
			_, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
				LockedSide: vasp.LockedReceiving, Amount: r.Amount, Description: desc, UmaRequestID: r.ID})
			return err
		}
		for _, tc := range []struct {
			name                  string
			lookup, invoice, want int // commentAllowed, commentCharsAllowed, the limit applied
		}{
			{"invoice limit under the lookup's", 255, 5, 5},
			{"lookup limit under the invoice's", 4, 5, 4},
			{"invoice without a limit", 3, 0, 3},
			{"lookup taking no comments", 0, 5, 5},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h.lnurlp = func(r *uma.LnurlpResponse) { r.CommentAllowed = tc.lookup }
				l := h.lookup(t)
				r := h.umaRequest(t, func(inv *uma.Invoice) { inv.CommentCharsAllowed = tc.invoice })
				payreqs = 0
				err := quote(l, r, strings.Repeat("é", tc.want+1))
				wantStatus(t, err, http.StatusBadRequest, vaspd.CodeInvalidInput)
				if e := vaspd.AsError(err); e.Details["commentAllowed"] != tc.want || payreqs != 0 {
					t.Fatalf("error %q %v, %d payreqs; want limit %d and none sent", e.Message, e.Details, payreqs, tc.want)
				}
				if err := quote(l, r, strings.Repeat("é", tc.want)); err != nil || got != strings.Repeat("é", tc.want) {
					t.Fatalf("quote at the limit: %v; comment sent %q", err, got)
				}
			})
		}
	})
}

// An UMA request's amount is in the smallest unit of its currency as its
// decimals say; the quote paying it asks the receiver for that amount in
// the unit of the receiver's lookup. A request whose decimals differ
// (cents in the invoice, whole euros in the lookup) would pay 100 times
// what was requested: it is the receiver's VASP contradicting itself, a
// failed quote (424), refused before any payreq is sent.
func TestQuoteUmaRequestDecimals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		var payreqs int
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			payreqs++
			h.reply(func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.Converted.Decimals = 0 })(rw, pr)
		}
		// The lookup: EUR in whole euros.
		h.lnurlp = func(r *uma.LnurlpResponse) { r.Currencies[0].Decimals = 0 }
		l := h.lookup(t)
		r := h.umaRequest(t, nil) // 1250 EUR cents: decimals 2, not the lookup's 0
		q, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
			LockedSide: vasp.LockedReceiving, Amount: r.Amount, UmaRequestID: r.ID})
		if err == nil {
			t.Fatalf("quote for a request of 1250 EUR cents pays %d EUR (decimals %d), %d msats",
				q.ReceivingAmount, q.ReceivingCurrencyInfo.Decimals, q.Msats)
		}
		wantStatus(t, err, http.StatusFailedDependency, vaspd.CodePayreqRequestFailed)
		if payreqs != 0 {
			t.Fatalf("%d payreqs sent", payreqs)
		}
	})
}
