package vasp_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// startDate and endDate are both inclusive (UMAaaS listTransactions): a
// transaction created exactly at either bound is listed.
func TestListTransactionsDateBoundsInclusive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		if _, err := s.PayRequest(t.Context(), "bob", pr); err != nil {
			t.Fatal(err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %d, %v", len(ts), err)
		}
		at := ts[0].CreatedAt
		for _, tc := range []struct {
			name     string
			from, to time.Time
			want     int
		}{
			{"endDate at creation", time.Time{}, at, 1},
			{"startDate at creation", at, time.Time{}, 1},
			{"both at creation", at, at, 1},
			{"endDate just before", time.Time{}, at.Add(-time.Microsecond), 0},
			{"startDate just after", at.Add(time.Microsecond), time.Time{}, 0},
		} {
			got, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{From: tc.from, To: tc.to}, "", 10)
			if err != nil || len(got) != tc.want {
				t.Errorf("%s: listed %d, want %d (%v)", tc.name, len(got), tc.want, err)
			}
		}
	})
}
