package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// POST /quotes and POST /quotes/{id}/execute answer the quote and the
// transaction as GET shows them later: the database keeps microseconds,
// so times with nanoseconds in the first answer differed from every read.
func TestAnswersCarryStoredTimes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		got, err := h.s.GetQuote(t.Context(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !q.CreatedAt.Equal(got.CreatedAt) {
			t.Errorf("quote created at %v, stored %v", q.CreatedAt, got.CreatedAt)
		}
		tx, err := h.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := h.s.GetTransaction(t.Context(), tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !tx.CreatedAt.Equal(stored.CreatedAt) || !tx.UpdatedAt.Equal(stored.UpdatedAt) || !tx.SettledAt.Equal(stored.SettledAt) {
			t.Errorf("transaction created/updated/settled at %v / %v / %v, stored %v / %v / %v",
				tx.CreatedAt, tx.UpdatedAt, tx.SettledAt, stored.CreatedAt, stored.UpdatedAt, stored.SettledAt)
		}
	})
}
