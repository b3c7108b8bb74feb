package users_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// The lookup cache never shows a process its own stale data: updates,
// renames and deletions through the Service are seen at once, rolled-back
// ones never; changes it cannot see (another process) show after the TTL.
func TestGetByUMALocalCache(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		const ttl = 300 * time.Millisecond
		s := users.New(db, vaspd.NewFakeClock(t0), users.WithRates(p), users.WithLocalCacheTTL(ttl))
		a, err := s.Create(ctx, db, alice())
		if err != nil {
			t.Fatal(err)
		}
		get := func(local string) (users.User, error) {
			t.Helper()
			return s.GetByUMALocal(ctx, db, local)
		}
		update := func(p users.Patch) error {
			return db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Update(ctx, tx, a.ID, p); return err })
		}
		// Cached, and a caller's changes to its copy stay its own.
		g, err := get("alice")
		if err != nil {
			t.Fatal(err)
		}
		g.PreferredCurrencies[0], g.Address.Line1 = "XXX", "changed by the caller"
		if g, err = get("alice"); err != nil || g.PreferredCurrencies[0] != "USD" || g.Address.Line1 != "1 Main St" {
			t.Fatalf("cached copy altered: %+v %v", g, err)
		}

		// An update through the Service is seen at once.
		kyc := users.KYCUnknown
		if err := update(users.Patch{KYCStatus: &kyc}); err != nil {
			t.Fatal(err)
		}
		if g, err = get("alice"); err != nil || g.KYCStatus != kyc {
			t.Fatalf("after update: %+v %v", g, err)
		}
		// A rolled-back update is never seen.
		other := users.KYCVerified
		errRollback := errors.New("roll back")
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := s.Update(ctx, tx, a.ID, users.Patch{KYCStatus: &other}); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		if g, err = get("alice"); err != nil || g.KYCStatus != kyc {
			t.Fatalf("after rollback: %+v %v", g, err)
		}
		// A rename frees the old address at once.
		renamed := "alice2"
		if err := update(users.Patch{UMALocal: &renamed}); err != nil {
			t.Fatal(err)
		}
		if _, err := get("alice"); err == nil {
			t.Fatal("the old address still finds the renamed user")
		}
		if g, err = get("alice2"); err != nil || g.ID != a.ID {
			t.Fatalf("renamed: %+v %v", g, err)
		}
		// A change the Service did not make shows after the TTL.
		if _, err := db.ExecContext(ctx, `UPDATE users SET kyc_status = $1 WHERE id = $2`, users.KYCVerified, a.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * ttl)
		for {
			if g, err = get("alice2"); err != nil {
				t.Fatal(err)
			}
			if g.KYCStatus == users.KYCVerified {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an outside change was never seen")
			}
			time.Sleep(ttl / 10)
		}
		// Reads in a transaction never use the cache.
		if _, err := db.ExecContext(ctx, `UPDATE users SET kyc_status = $1 WHERE id = $2`, users.KYCPending, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			g, err := s.GetByUMALocal(ctx, tx, "alice2")
			if err == nil && g.KYCStatus != users.KYCPending {
				t.Errorf("read in a transaction: %+v", g)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// A deletion is seen at once.
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Delete(ctx, tx, a.ID); return err }); err != nil {
			t.Fatal(err)
		}
		_, err = get("alice2")
		wantCode(t, err, http.StatusNotFound, vaspd.CodeUserNotFound)
	})
}
