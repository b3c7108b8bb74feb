package users_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

var ctx = context.Background()

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newService(t *testing.T, db *store.DB) (*users.Service, *vaspd.FakeClock) {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := vaspd.NewFakeClock(t0)
	return users.New(db, clock, users.WithRates(p)), clock
}

// wantCode fails unless err is a *vaspd.Error with the status and code.
func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *vaspd.Error
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func alice() users.User {
	return users.User{PlatformUserID: "p-alice", UserType: users.Individual, UMALocal: "$Alice",
		FullName: " Alice Example ", BirthDate: "1990-01-15", Nationality: "us", Email: "alice@example.com", KYCStatus: users.KYCVerified,
		PreferredCurrencies: []string{"usd", "EUR"},
		Address:             &users.Address{Line1: "1 Main St", PostalCode: "94105", Country: "us"},
		BankAccount: &users.BankAccountInfo{AccountType: users.AccountUS, AccountNumber: "123456789",
			RoutingNumber: "222888888", AccountCategory: users.CategoryChecking, AccountHolderName: "Alice Example"}}
}

func acme() users.User {
	return users.User{PlatformUserID: "p-acme", UserType: users.Business, UMALocal: "acme",
		BusinessInfo: &users.BusinessInfo{LegalName: "Acme Corp", TaxID: "EIN-1"},
		BankAccount:  &users.BankAccountInfo{AccountType: users.AccountIBAN, IBAN: "de89 3704 0044 0532 0130 00", BankName: "Bank"}}
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		a, err := s.Create(ctx, db, alice())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vaspd.ParseID(vaspd.IDUser, a.ID); err != nil {
			t.Fatal(err)
		}
		if a.UMALocal != "alice" || a.FullName != "Alice Example" || a.Nationality != "US" ||
			a.Address.Country != "US" || a.PreferredCurrencies[0] != "USD" || !a.CreatedAt.Equal(t0) || a.IsDeleted() {
			t.Fatalf("not normalised: %+v", a)
		}
		if got := a.UMAAddress("vasp.example"); got != "$alice@vasp.example" {
			t.Fatal(got)
		}
		for _, local := range []string{"alice", "$ALICE", " Alice"} {
			g, err := s.GetByUMALocal(ctx, db, local)
			if err != nil || g.ID != a.ID {
				t.Fatalf("GetByUMALocal(%q): %v %v", local, g, err)
			}
		}
		g, err := s.Get(ctx, db, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(g) != fmt.Sprint(a) || g.BankAccount.RoutingNumber != "222888888" {
			t.Fatalf("round trip:\n got %+v\nwant %+v", g, a)
		}

		b, err := s.Create(ctx, db, acme())
		if err != nil {
			t.Fatal(err)
		}
		if b.FullName != "Acme Corp" || b.BankAccount.IBAN != "DE89370400440532013000" ||
			b.KYCStatus != users.KYCUnknown || len(b.PreferredCurrencies) != 1 || b.PreferredCurrencies[0] != "USD" {
			t.Fatalf("business: %+v", b)
		}
		g, err = s.Get(ctx, db, b.ID)
		if err != nil || g.FullName != "Acme Corp" || g.BusinessInfo.TaxID != "EIN-1" {
			t.Fatalf("business read back: %+v %v", g, err)
		}

		_, err = s.Get(ctx, db, vaspd.NewID(vaspd.IDUser))
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
		_, err = s.GetByUMALocal(ctx, db, "bob")
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
		_, err = s.GetByUMALocal(ctx, db, "not valid!")
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	cases := []struct {
		name   string
		change func(u *users.User)
		code   string
	}{
		{"no platform id", func(u *users.User) { u.PlatformUserID = " " }, vaspd.CodeInvalidInput},
		{"bad type", func(u *users.User) { u.UserType = "ROBOT" }, vaspd.CodeInvalidInput},
		{"no address", func(u *users.User) { u.UMALocal = "" }, vaspd.CodeInvalidUMAAddress},
		{"bad address", func(u *users.User) { u.UMALocal = "al ice" }, vaspd.CodeInvalidUMAAddress},
		{"address with domain", func(u *users.User) { u.UMALocal = "alice@x.com" }, vaspd.CodeInvalidUMAAddress},
		{"long address", func(u *users.User) { u.UMALocal = string(make([]byte, 65)) }, vaspd.CodeInvalidUMAAddress},
		{"dot address", func(u *users.User) { u.UMALocal = "." }, vaspd.CodeInvalidUMAAddress},
		{"dot-dot address", func(u *users.User) { u.UMALocal = "$.." }, vaspd.CodeInvalidUMAAddress},
		{"kyc", func(u *users.User) { u.KYCStatus = "MAYBE" }, vaspd.CodeInvalidInput},
		{"unknown currency", func(u *users.User) { u.PreferredCurrencies = []string{"XYZ"} }, vaspd.CodeInvalidCurrency},
		{"malformed currency", func(u *users.User) { u.PreferredCurrencies = []string{"$"} }, vaspd.CodeInvalidCurrency},
		{"duplicate currency", func(u *users.User) { u.PreferredCurrencies = []string{"USD", "usd"} }, vaspd.CodeInvalidInput},
		{"birth date", func(u *users.User) { u.BirthDate = "1990-02-30" }, vaspd.CodeInvalidInput},
		{"email", func(u *users.User) { u.Email = "not an address" }, vaspd.CodeInvalidInput},
		{"nationality", func(u *users.User) { u.Nationality = "USA" }, vaspd.CodeInvalidInput},
		{"control chars", func(u *users.User) { u.FullName = "a\x00b" }, vaspd.CodeInvalidInput},
		{"business info on individual", func(u *users.User) { u.BusinessInfo = &users.BusinessInfo{LegalName: "x"} }, vaspd.CodeInvalidInput},
		{"address without line1", func(u *users.User) { u.Address.Line1 = "" }, vaspd.CodeInvalidInput},
		{"address country", func(u *users.User) { u.Address.Country = "United States" }, vaspd.CodeInvalidInput},
		{"routing number", func(u *users.User) { u.BankAccount.RoutingNumber = "12" }, vaspd.CodeInvalidInput},
		{"account category", func(u *users.User) { u.BankAccount.AccountCategory = "GOLD" }, vaspd.CodeInvalidInput},
		{"missing holder, no name", func(u *users.User) { u.BankAccount.AccountHolderName, u.FullName = "", "" }, vaspd.CodeInvalidInput},
		{"foreign field", func(u *users.User) { u.BankAccount.IBAN = "DE89370400440532013000" }, vaspd.CodeInvalidInput},
		{"account type", func(u *users.User) { u.BankAccount.AccountType = "CASH" }, vaspd.CodeInvalidInput},
		{"clabe", func(u *users.User) {
			u.BankAccount = &users.BankAccountInfo{AccountType: users.AccountCLABE, ClabeNumber: "123", BankName: "b"}
		}, vaspd.CodeInvalidInput},
		{"business with birth date", func(u *users.User) {
			*u = acme()
			u.BirthDate = "1990-01-01"
		}, vaspd.CodeInvalidInput},
		{"business without legal name", func(u *users.User) {
			*u = acme()
			u.BusinessInfo.LegalName = ""
		}, vaspd.CodeInvalidInput},
	}
	for _, c := range cases {
		u := alice()
		a := *u.Address
		b := *u.BankAccount
		u.Address, u.BankAccount = &a, &b
		c.change(&u)
		_, err := s.Create(ctx, s.DB(), u)
		wantCode(t, err, 400, c.code)
	}
}

func TestUniqueAddressAndSoftDelete(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		a, err := s.Create(ctx, db, alice())
		if err != nil {
			t.Fatal(err)
		}
		dup := alice()
		dup.UMALocal = "ALICE"
		_, err = s.Create(ctx, db, dup)
		wantCode(t, err, 409, vaspd.CodeUMAAddressExists)

		clock.Advance(time.Minute)
		var deleted users.User
		err = db.InTx(ctx, func(tx *store.Tx) error {
			deleted, err = s.Delete(ctx, tx, a.ID)
			return err
		})
		if err != nil || !deleted.IsDeleted() || !deleted.DeletedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("delete: %+v %v", deleted, err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Delete(ctx, tx, a.ID); return err })
		wantCode(t, err, 410, vaspd.CodeGone)
		err = db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Delete(ctx, tx, vaspd.NewID(vaspd.IDUser)); return err })
		wantCode(t, err, 404, vaspd.CodeUserNotFound)

		_, err = s.Get(ctx, db, a.ID)
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
		_, err = s.GetByUMALocal(ctx, db, "alice")
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
		if g, err := s.GetIncludingDeleted(ctx, db, a.ID); err != nil || !g.IsDeleted() {
			t.Fatalf("GetIncludingDeleted: %+v %v", g, err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Lock(ctx, tx, a.ID); return err })
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
		err = db.InTx(ctx, func(tx *store.Tx) error {
			kyc := users.KYCPending
			_, err := s.Update(ctx, tx, a.ID, users.Patch{KYCStatus: &kyc})
			return err
		})
		wantCode(t, err, 410, vaspd.CodeGone)

		// The address is free again.
		b, err := s.Create(ctx, db, dup)
		if err != nil {
			t.Fatal(err)
		}
		if g, err := s.GetByUMALocal(ctx, db, "alice"); err != nil || g.ID != b.ID {
			t.Fatalf("new alice: %v %v", g, err)
		}
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		a, err := s.Create(ctx, db, alice())
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Create(ctx, db, acme())
		if err != nil {
			t.Fatal(err)
		}
		update := func(id string, p users.Patch) (users.User, error) {
			var u users.User
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				u, err = s.Update(ctx, tx, id, p)
				return err
			})
			return u, err
		}
		clock.Advance(time.Hour)
		local, kyc, cur := "Alice2", users.KYCPending, []string{"EUR"}
		u, err := update(a.ID, users.Patch{UMALocal: &local, KYCStatus: &kyc, PreferredCurrencies: &cur})
		if err != nil {
			t.Fatal(err)
		}
		if u.UMALocal != "alice2" || u.KYCStatus != users.KYCPending || u.PreferredCurrencies[0] != "EUR" ||
			!u.UpdatedAt.Equal(t0.Add(time.Hour)) || !u.CreatedAt.Equal(t0) || u.FullName != "Alice Example" {
			t.Fatalf("updated: %+v", u)
		}
		if g, _ := s.Get(ctx, db, a.ID); fmt.Sprint(g) != fmt.Sprint(u) || g.BankAccount == nil {
			t.Fatalf("read back %+v", g)
		}
		taken := "acme"
		_, err = update(a.ID, users.Patch{UMALocal: &taken})
		wantCode(t, err, 409, vaspd.CodeUMAAddressExists)
		bad := []string{"XYZ"}
		_, err = update(a.ID, users.Patch{PreferredCurrencies: &bad})
		wantCode(t, err, 400, vaspd.CodeInvalidCurrency)
		name := "Acme"
		_, err = update(b.ID, users.Patch{FullName: &name})
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		u, err = update(b.ID, users.Patch{BusinessInfo: &users.BusinessInfo{LegalName: "Acme Two"}})
		if err != nil || u.FullName != "Acme Two" {
			t.Fatalf("business rename: %+v %v", u, err)
		}
		_, err = update(vaspd.NewID(vaspd.IDUser), users.Patch{})
		wantCode(t, err, 404, vaspd.CodeUserNotFound)
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock := newService(t, db)
		var ids []string
		for i := 0; i < 5; i++ {
			u := alice()
			u.UMALocal = fmt.Sprintf("user%d", i)
			u.PlatformUserID = fmt.Sprintf("p%d", i%2)
			if i == 4 {
				u = acme()
			}
			c, err := s.Create(ctx, db, u)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
			clock.Advance(time.Minute)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Delete(ctx, tx, ids[0]); return err }); err != nil {
			t.Fatal(err)
		}
		list := func(f users.ListFilter) []string {
			t.Helper()
			us, err := s.List(ctx, db, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, u := range us {
				out = append(out, u.ID)
			}
			return out
		}
		eq := func(got []string, want ...string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
		eq(list(users.ListFilter{}), ids[4], ids[3], ids[2], ids[1])
		eq(list(users.ListFilter{IncludeDeleted: true}), ids[4], ids[3], ids[2], ids[1], ids[0])
		eq(list(users.ListFilter{Limit: 1}), ids[4], ids[3]) // limit+1
		eq(list(users.ListFilter{Limit: 2, After: ids[3]}), ids[2], ids[1])
		eq(list(users.ListFilter{PlatformUserID: "p1"}), ids[3], ids[1])
		eq(list(users.ListFilter{UMALocal: "user2"}), ids[2])
		eq(list(users.ListFilter{UserType: users.Business}), ids[4])
		eq(list(users.ListFilter{KYCStatus: users.KYCVerified}), ids[3], ids[2], ids[1])
		eq(list(users.ListFilter{CreatedAfter: t0.Add(2 * time.Minute), CreatedBefore: t0.Add(3 * time.Minute)}), ids[3], ids[2])
		eq(list(users.ListFilter{UpdatedAfter: t0.Add(time.Hour)}))
		eq(list(users.ListFilter{UpdatedBefore: t0.Add(time.Minute), IncludeDeleted: true}), ids[1])
	})
}

// TestConcurrentCreate races creations of one address: exactly one wins.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		var won atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Create(ctx, db, alice())
				var e *vaspd.Error
				switch {
				case err == nil:
					won.Add(1)
				case errors.As(err, &e) && e.Code == vaspd.CodeUMAAddressExists:
				default:
					t.Errorf("create: %v", err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d creations won", won.Load())
		}
	})
}

func TestParseAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"$Alice@VASP.example": "alice", "alice@vasp.example": "alice", "$bob": "bob", "carol": "carol",
		" $d.e-f_g+h@vasp.example ": "d.e-f_g+h", "$...@vasp.example": "...", ".a": ".a",
	} {
		got, err := users.ParseAddress(in, "vasp.example")
		if err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// "." and ".." are UMA syntax, but no URL names them (a path's dot
	// segments): such a user could never be looked up or paid.
	for _, in := range []string{"$alice@other.example", "$al ice@vasp.example", "$@vasp.example", "", "$a@b@vasp.example",
		"$.@vasp.example", "$..@vasp.example", "$.", "..", " $.. "} {
		_, err := users.ParseAddress(in, "vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidUMAAddress)
	}
}

// TestParseAddressOtherSpellingsOfTheDomain: "vasp.example." (a trailing
// dot, which UMA's domain rule accepts) and "vasp.example:443" (https's
// default port) name this VASP's domain too; another port does not.
func TestParseAddressOtherSpellingsOfTheDomain(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"$alice@vasp.example.", "$alice@vasp.example:443", "$Alice@VASP.example.:443"} {
		got, err := users.ParseAddress(in, "vasp.example")
		if err != nil || got != "alice" {
			t.Errorf("ParseAddress(%q) = %q, %v; want alice", in, got, err)
		}
	}
	for _, in := range []string{"$alice@vasp.example:8443", "$alice@vasp.example..", "$alice@vasp.examples"} {
		_, err := users.ParseAddress(in, "vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidUMAAddress)
	}
}

// TestCreateOnceRacesCommit: a CreateOnce whose key another CreateOnce,
// still uncommitted, has just taken answers that one's user once it
// commits. (On PostgreSQL its INSERT waits on the other's, then fails on
// a unique index, the key's or the address's, and it must try again, not
// answer 409 UMA_ADDRESS_EXISTS; on SQLite the writes are serial.) The
// other is a copy, under the key, of a user the same request made under
// another key and was since deleted, so that it is the same request. The
// goroutine is given time to get that far; were it slower, it would find
// the user committed, and still answer it.
func TestCreateOnceRacesCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		first, replayed, err := s.CreateOnce(ctx, alice(), "k0")
		if err != nil || replayed {
			t.Fatalf("create: %v %v %v", first, replayed, err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := s.Delete(ctx, tx, first.ID); return err }); err != nil {
			t.Fatal(err)
		}
		id := vaspd.NewID(vaspd.IDUser)
		type result struct {
			u        users.User
			replayed bool
			err      error
		}
		done := make(chan result, 1)
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, platform_user_id, user_type, uma_local, kyc_status,
				preferred_currencies, profile, created_at, updated_at, idempotency_key, request_sha256)
				SELECT $1, platform_user_id, user_type, uma_local, kyc_status, preferred_currencies, profile,
				created_at, updated_at, 'k', request_sha256 FROM users WHERE idempotency_key = 'k0'`, id); err != nil {
				return err
			}
			go func() {
				u, replayed, err := s.CreateOnce(ctx, alice(), "k")
				done <- result{u, replayed, err}
			}()
			time.Sleep(300 * time.Millisecond)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || !r.replayed || r.u.ID != id || r.u.IsDeleted() {
			t.Fatalf("create: %+v %v %v, want %s replayed", r.u, r.replayed, r.err, id)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%d users (%v)", n, err)
		}
	})
}

// TestCreateOnceChecksAfterTheKey: a retry under its key answers the
// first user however the state its checks depend on changed since: here
// the clock went back before the birth date the first request gave (a
// date the first request could use). Without the key the request is
// checked, and refused.
func TestCreateOnceChecksAfterTheKey(t *testing.T) {
	t.Parallel()
	s, clock := newService(t, storetest.SQLite(t))
	u := alice()
	u.BirthDate = t0.Format(time.DateOnly)
	first, replayed, err := s.CreateOnce(ctx, u, "k")
	if err != nil || replayed {
		t.Fatalf("create: %v %v %v", first, replayed, err)
	}
	clock.Set(t0.AddDate(0, 0, -2))
	again, replayed, err := s.CreateOnce(ctx, u, "k")
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("retry: %v %v %v, want %s replayed", again, replayed, err, first.ID)
	}
	u.UMALocal = "alice2"
	_, _, err = s.CreateOnce(ctx, u, "k2")
	wantCode(t, err, 400, vaspd.CodeInvalidInput)
}

// TestUSAccountHolderDefaultsToTheUser: UMAaaS requires a US_ACCOUNT's
// accountHolderName, yet its own createUser and updateUserById examples
// leave it out; a platform copying them was refused. Left out, it is the
// user's name (an individual's fullName, a business's legal name), as a
// bulk-upload row's is; a user without a name still has to give it.
func TestUSAccountHolderDefaultsToTheUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		us := func() *users.BankAccountInfo {
			return &users.BankAccountInfo{AccountType: users.AccountUS, AccountNumber: "12345678901",
				RoutingNumber: "123456789", AccountCategory: users.CategoryChecking, BankName: "Chase Bank"}
		}
		jane, err := s.Create(ctx, db, users.User{PlatformUserID: "p-jane", UserType: users.Individual, UMALocal: "jane",
			FullName: " Jane Doe ", BankAccount: us()})
		if err != nil || jane.BankAccount.AccountHolderName != "Jane Doe" {
			t.Fatalf("individual: %+v %v", jane.BankAccount, err)
		}
		acme, err := s.Create(ctx, db, users.User{PlatformUserID: "p-acme", UserType: users.Business, UMALocal: "acme",
			BusinessInfo: &users.BusinessInfo{LegalName: "Acme Corporation"}, BankAccount: us()})
		if err != nil || acme.BankAccount.AccountHolderName != "Acme Corporation" {
			t.Fatalf("business: %+v %v", acme.BankAccount, err)
		}
		if g, err := s.Get(ctx, db, acme.ID); err != nil || g.BankAccount.AccountHolderName != "Acme Corporation" {
			t.Fatalf("read back: %+v %v", g.BankAccount, err)
		}
		_, err = s.Create(ctx, db, users.User{PlatformUserID: "p-anon", UserType: users.Individual, UMALocal: "anon", BankAccount: us()})
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		// An update's new account, too.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			u, err := s.Update(ctx, tx, jane.ID, users.Patch{BankAccount: us()})
			if err == nil && u.BankAccount.AccountHolderName != "Jane Doe" {
				t.Errorf("updated account %+v", u.BankAccount)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
