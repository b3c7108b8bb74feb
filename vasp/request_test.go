package vasp_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
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
				if err := inv.Sign(carols.Signing); err != nil {
					t.Fatal(err)
				}
				link, err := inv.URI()
				if err != nil {
					t.Fatal(err)
				}
				body, _ := json.Marshal(uma.UmaRequest{Invoice: link})
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
