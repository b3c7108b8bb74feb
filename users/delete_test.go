package users_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// A check added with OnDelete runs in Delete's transaction, after the
// user is marked deleted (it reads the mark), and its error refuses the
// delete: the user stays live.
func TestOnDeleteRefuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := users.New(db, nil)
		u, err := s.Create(t.Context(), db, users.User{PlatformUserID: "p-1", UserType: users.Individual, UMALocal: "carol",
			PreferredCurrencies: []string{"USD"}, FullName: "Carol"})
		if err != nil {
			t.Fatal(err)
		}
		refuse := errors.New("payments in flight")
		var sawDeleted bool
		s.OnDelete(func(ctx context.Context, tx *store.Tx, id string) error {
			got, err := s.GetIncludingDeleted(ctx, tx, id)
			sawDeleted = err == nil && got.IsDeleted()
			return refuse
		})
		err = db.InTx(t.Context(), func(tx *store.Tx) error { _, err := s.Delete(t.Context(), tx, u.ID); return err })
		if !errors.Is(err, refuse) || !sawDeleted {
			t.Fatalf("delete: %v (check saw the user deleted: %v), want the check's refusal", err, sawDeleted)
		}
		if _, err := s.Get(t.Context(), db, u.ID); err != nil {
			t.Fatalf("the refused delete left the user: %v", err)
		}
	})
}
