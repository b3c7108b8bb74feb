package users_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestBirthDateNotInFuture: a birthDate after today (by the service's
// clock, anywhere on Earth) is a 400, on create and on update; today is
// fine, and so is a date the clock has since reached.
func TestBirthDateNotInFuture(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db) // t0 is 2026-01-02T03:04:05Z
		u := alice()
		u.BirthDate = "2026-01-04"
		_, err := s.Create(ctx, s.DB(), u)
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		u.BirthDate = "2026-01-02"
		a, err := s.Create(ctx, s.DB(), u)
		if err != nil {
			t.Fatalf("born today: %v", err)
		}
		update := func(date string) (users.User, error) {
			var out users.User
			err := db.InTx(ctx, func(tx *store.Tx) (err error) {
				out, err = s.Update(ctx, tx, a.ID, users.Patch{BirthDate: &date})
				return err
			})
			return out, err
		}
		_, err = update("2026-01-04")
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		clock.Advance(48 * time.Hour)
		if got, err := update("2026-01-04"); err != nil || got.BirthDate != "2026-01-04" {
			t.Fatalf("born on the clock's today: %+v, %v", got, err)
		}
	})
}
