package users_test

import (
	"strings"
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

// TestBirthDateKiribatiToday: the earliest place on Earth (Kiribati's Line
// Islands, UTC+14) reaches a date 14 hours before UTC does. Someone born
// there "today" while it is still yesterday in UTC is accepted, on create
// and update, from the first second of that day there; one second before
// (still yesterday in Kiribati too) the date is in the future everywhere
// and refused. The clock's own time zone does not matter.
func TestBirthDateKiribatiToday(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		kiribati := time.FixedZone("LINT", 14*60*60)
		midnight := time.Date(2026, 1, 3, 0, 0, 0, 0, kiribati) // 2026-01-02T10:00:00Z
		if got := midnight.UTC().Format(time.DateOnly); got != "2026-01-02" {
			t.Fatalf("test setup: UTC date %s", got)
		}
		create := func(local, date string) error {
			u := alice()
			u.PlatformUserID, u.UMALocal, u.BirthDate = "p-"+local, "$"+local, date
			_, err := s.Create(ctx, s.DB(), u)
			return err
		}

		clock.Set(midnight.Add(-time.Second))
		wantCode(t, create("early", "2026-01-03"), 400, vaspd.CodeInvalidInput)
		a, err := s.Create(ctx, s.DB(), alice()) // no birth date yet
		if err != nil {
			t.Fatal(err)
		}
		update := func(date string) error {
			return db.InTx(ctx, func(tx *store.Tx) error {
				_, err := s.Update(ctx, tx, a.ID, users.Patch{BirthDate: &date})
				return err
			})
		}
		wantCode(t, update("2026-01-03"), 400, vaspd.CodeInvalidInput)

		for _, now := range []time.Time{midnight, midnight.In(time.UTC), midnight.In(time.FixedZone("HST", -10*60*60))} {
			clock.Set(now)
			if err := create("k"+now.Format("150405")+now.Location().String()[:1], "2026-01-03"); err != nil {
				t.Fatalf("born today in Kiribati at %s (%s in UTC): %v", now, now.UTC(), err)
			}
		}
		if err := update("2026-01-03"); err != nil {
			t.Fatalf("update to today in Kiribati: %v", err)
		}
		// The day after Kiribati's today is in the future everywhere.
		clock.Set(midnight.Add(24*time.Hour - time.Second))
		wantCode(t, create("later", "2026-01-04"), 400, vaspd.CodeInvalidInput)
		wantCode(t, update("2026-01-04"), 400, vaspd.CodeInvalidInput)
	})
}

// TestBirthDateBefore1900: a date before 1900 is refused saying so; the
// message said "must be a date YYYY-MM-DD", which 1899-12-31 is.
func TestBirthDateBefore1900(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		u := alice()
		u.BirthDate = "1899-12-31"
		_, err := s.Create(ctx, s.DB(), u)
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		if msg := vaspd.AsError(err).Message; !strings.Contains(msg, "1900") {
			t.Errorf("message %q does not say dates start in 1900", msg)
		}
		u.BirthDate = "1900-01-01"
		if _, err := s.Create(ctx, s.DB(), u); err != nil {
			t.Fatalf("born 1900-01-01: %v", err)
		}
	})
}
