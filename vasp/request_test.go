package vasp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// An UMA request whose invoice expires after year 9999 is an invalid
// invoice: its expiry fits neither a stored microsecond count (it wrapped)
// nor an RFC 3339 time. The last second of 9999 is still fine.
func TestUmaRequestExpirationBeyond9999(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
		for i, tc := range []struct {
			name       string
			expiration int64 // > 1e11 is read as milliseconds
			ok         bool
		}{
			{"milliseconds wrapping microseconds", 9_000_000_000_000_000_000, false},
			{"year 10000", (last + 1) * 1000, false},
			{"last second of 9999", last * 1000, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				inv := &uma.Invoice{
					ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69e" + string(rune('0'+i)), Amount: 1250,
					ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
					Expiration:        tc.expiration, IsSubjectToTravelRule: true,
					UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain,
					Callback: "https://vasp1.example/api/uma/payreq/carol",
				}
				body := umaRequestBody(t, carols.Signing, inv)
				r, err := s.ReceiveUmaRequest(t.Context(), body)
				if !tc.ok {
					wantCode(t, err, uma.CodeInvalidInvoice)
					return
				}
				if err != nil || r.ExpiresAt.Unix() != last {
					t.Fatalf("got %v, %v; want expiry %d", r.ExpiresAt, err, last)
				}
				got, err := s.GetUmaRequest(t.Context(), r.ID)
				if err != nil || !got.ExpiresAt.Equal(r.ExpiresAt) {
					t.Fatalf("stored %v, %v; want %v", got.ExpiresAt, err, r.ExpiresAt)
				}
			})
		}
		if n := countRows(t, db, "uma_requests"); n != 1 {
			t.Fatalf("%d UMA requests kept, want 1", n)
		}
	})
}

// A quote paying an UMA request expires with the request, not only with
// the receiver's BOLT11 invoice: executed after the request expired, it
// is refused (409 QUOTE_EXPIRED) and nothing is paid. The receiver's
// invoice here lives a minute, the request 20 seconds.
func TestQuoteUmaRequestExpiresWithRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		l := h.lookup(t)
		r := h.umaRequest(t, func(inv *uma.Invoice) { inv.Expiration = h.w.clock.Now().Add(20 * time.Second).Unix() })
		s := h.w.service(t, nil) // on the world's clock
		q, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
			LockedSide: vasp.LockedReceiving, Amount: r.Amount, UmaRequestID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		if q.ExpiresAt.After(r.ExpiresAt) {
			t.Errorf("quote expires at %v, after the UMA request it pays (%v)", q.ExpiresAt, r.ExpiresAt)
		}
		h.w.clock.Advance(30 * time.Second) // the request expired; the receiver's invoice has not
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err == nil {
			t.Fatalf("executing a quote for an UMA request that expired paid it: %s %s", tr.ID, tr.Status)
		}
		wantStatus(t, err, http.StatusConflict, "QUOTE_EXPIRED")
		if got, err := s.GetQuote(t.Context(), q.ID); err != nil || got.Status != vasp.QuoteExpired {
			t.Fatalf("quote reads %s (%v), want %s", got.Status, err, vasp.QuoteExpired)
		}
	})
}

// umaRequestBody is the body of POST /api/uma/request_pay carrying inv,
// signed with key (the receiver's VASP's).
func umaRequestBody(t *testing.T, key *uma.PrivateKey, inv *uma.Invoice) []byte {
	t.Helper()
	if err := inv.Sign(key); err != nil {
		t.Fatal(err)
	}
	link, err := inv.URI()
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(uma.UmaRequest{Invoice: link})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// An UMA request's invoice is kept, listed and announced as the bech32
// invoice ("uma1…", lower case), however the receiver's VASP wrote it
// (UMA://…, uma:…, upper case: all read alike): the platform shows it or
// makes its uma:// link from it. "UMA://uma1…" and "uma:uma1…" were kept
// and answered as received.
func TestUmaRequestInvoiceKeptBare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		inv := &uma.Invoice{
			ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69d0", Amount: 1250,
			ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
			Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
			UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain,
			Callback: "https://vasp1.example/api/uma/payreq/carol",
		}
		if err := inv.Sign(carols.Signing); err != nil {
			t.Fatal(err)
		}
		bare, err := inv.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var id string
		for _, form := range []string{"UMA://" + bare, "uma:" + bare, " uma://" + strings.ToUpper(bare) + " ", strings.ToUpper(bare), bare} {
			body, err := json.Marshal(uma.UmaRequest{Invoice: form})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.ReceiveUmaRequest(t.Context(), body)
			if err != nil {
				t.Fatalf("%q: %v", form, err)
			}
			if id == "" {
				id = r.ID
			}
			got, err := s.GetUmaRequest(t.Context(), r.ID)
			if err != nil || r.ID != id || r.Invoice != bare || got.Invoice != bare {
				t.Fatalf("%q: request %s answered with %q, kept %q (%v); want %s with %q", form, r.ID, r.Invoice, got.Invoice, err, id, bare)
			}
		}
	})
}
