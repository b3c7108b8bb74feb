package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/webhook"
)

// TestNewOutgoingReceivedCurrencyIsTheReceivers: an outgoing transaction's
// receivedAmount is in the smallest unit of the receiver's currency, and
// its currency says how many decimals that unit has as the receiver
// described it (as the quote's receivingCurrency does), also for a
// currency our rates file does not have: 1234 of a 3-decimal currency is
// 1.234, not 1234 whole units (decimals 0).
func TestNewOutgoingReceivedCurrencyIsTheReceivers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		kwd := uma.Currency{Code: "KWD", Name: "Kuwaiti Dinar", Symbol: "KD", Decimals: 3, Multiplier: 1000,
			Convertible: uma.Convertible{Min: 1, Max: 1e9}}
		h.lnurlp = func(r *uma.LnurlpResponse) { r.Currencies = []uma.Currency{kwd} }
		h.payreq = h.reply(func(_ *uma.PayRequest, resp *uma.PayReqResponse) {
			resp.Converted.CurrencyCode, resp.Converted.Decimals = "KWD", 3
		})
		h.fund(t, 100_000)
		q, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: h.lookup(t).ID, SendingCurrency: "USD",
			ReceivingCurrency: "KWD", LockedSide: vasp.LockedReceiving, Amount: 1234})
		if err != nil {
			t.Fatal(err)
		}
		if q.ReceivingCurrencyInfo.Decimals != 3 {
			t.Fatalf("the quote's receiving currency %+v", q.ReceivingCurrencyInfo)
		}
		tr, err := h.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range []vasp.Transaction{tr, mustGet(t, h.s, tr.ID)} {
			out, ok := h.s.Render(t.Context(), tr).(webhook.OutgoingTransaction)
			if !ok || out.ReceivedAmount == nil {
				t.Fatalf("rendered %+v", out)
			}
			want := webhook.Currency{Code: "KWD", Name: "Kuwaiti Dinar", Symbol: "KD", Decimals: 3}
			if got := *out.ReceivedAmount; got.Amount != 1234 || got.Currency != want {
				t.Fatalf("receivedAmount %+v, want 1234 of %+v", got, want)
			}
		}
	})
}

func mustGet(t *testing.T, s *vasp.Service, id string) vasp.Transaction {
	t.Helper()
	tr, err := s.GetTransaction(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
