package users_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestTextRefusesC1Controls: a free-text value is "printable text", yet
// only C0 controls and DEL were refused: U+0085 (NEL, a line break to
// many readers) or U+009B (CSI, the 8-bit terminal escape) was stored in
// a name, and a bulk-upload row carrying one was imported and echoed as
// its correlation id. They are refused on create, in a bulk row and in a
// PATCH that sets them, as an invitation's firstName is; one stored before
// does not block the user's other edits.
func TestTextRefusesC1Controls(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		for i, set := range []func(*users.User, string){
			func(u *users.User, v string) { u.FullName = v },
			func(u *users.User, v string) { u.PlatformUserID = v },
			func(u *users.User, v string) { u.Address.Line1 = v },
			func(u *users.User, v string) { u.BankAccount.AccountHolderName = v },
		} {
			for _, c := range []string{"\u0085", "\u009b", "\u0080"} {
				u := alice()
				u.UMALocal = "c" + string(rune('a'+i))
				set(&u, "Al"+c+"ice")
				_, err := s.Create(ctx, db, u)
				wantCode(t, err, 400, vaspd.CodeInvalidInput)
			}
		}
		b := acme()
		b.BusinessInfo.LegalName = "Acme\u0085Corp"
		_, err := s.Create(ctx, db, b)
		wantCode(t, err, 400, vaspd.CodeInvalidInput)

		im := users.NewImporter(s, users.ImporterOptions{})
		j := importFile(t, im, "umaAddress,platformUserId,userType,fullName\n"+
			"$r1,p1,INDIVIDUAL,Bob\u0085Smith\n"+
			"$r2,p\u009b2J,INDIVIDUAL,Bob\n"+
			"$r3,p3,INDIVIDUAL,Bob Smith\n")
		if j.Successful != 1 || j.Failed != 2 || len(j.Errors) != 2 {
			t.Fatalf("job %+v", j)
		}
		if c := j.Errors[1].CorrelationID; c != "row_2" {
			t.Errorf("a platformUserId with a control character reported as %q", c)
		}

		a, err := s.Create(ctx, db, alice())
		if err != nil {
			t.Fatal(err)
		}
		update := func(p users.Patch) error {
			return db.InTx(ctx, func(tx *store.Tx) error {
				_, err := s.Update(ctx, tx, a.ID, p)
				return err
			})
		}
		bad := "Alice\u0085Example"
		wantCode(t, update(users.Patch{FullName: &bad}), 400, vaspd.CodeInvalidInput)
		wantCode(t, update(users.Patch{Address: &users.Address{Line1: bad, PostalCode: "1", Country: "US"}}), 400,
			vaspd.CodeInvalidInput)
		// Stored before the check: other edits pass, and keep it.
		if _, err := db.ExecContext(ctx, `UPDATE users SET profile = $1 WHERE id = $2`,
			`{"fullName":"`+bad+`","address":{"line1":"`+bad+`","postalCode":"1","country":"US"}}`, a.ID); err != nil {
			t.Fatal(err)
		}
		pending := users.KYCPending
		if err := update(users.Patch{KYCStatus: &pending}); err != nil {
			t.Fatalf("edit of a user whose stored name has a control character: %v", err)
		}
		got, err := s.Get(ctx, db, a.ID)
		if err != nil || got.FullName != bad || !strings.Contains(got.Address.Line1, "\u0085") {
			t.Fatalf("after the edit: %+v %v", got, err)
		}
		other := "Alice\u009bB"
		wantCode(t, update(users.Patch{FullName: &other}), 400, vaspd.CodeInvalidInput)

		// A business's stored legal name, its fullName too.
		b = acme()
		if b, err = s.Create(ctx, db, b); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE users SET profile = $1 WHERE id = $2`,
			`{"businessInfo":{"legalName":"Acme\u0085Corp"}}`, b.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := s.Update(ctx, tx, b.ID, users.Patch{KYCStatus: &pending})
			return err
		}); err != nil {
			t.Fatalf("edit of a business whose stored legal name has a control character: %v", err)
		}
	})
}

// TestTextRefusesBidiControls: a name such as "alice\u202Egnp.exe" (U+202E,
// RIGHT-TO-LEFT OVERRIDE) displays as "aliceexe.png" wherever it is shown,
// the platform's UI and webhook consumers included; the embedding,
// override and isolate controls (U+202A–U+202E, U+2066–U+2069) were
// accepted in every free-text value. They are refused on create, in a
// bulk row (its correlation id then the row's number) and in a PATCH that
// sets them, as an invitation's firstName; one stored before does not
// block the user's other edits. The marks U+200E, U+200F and U+061C,
// which names written right to left need, are kept.
func TestTextRefusesBidiControls(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		bidi := []string{"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}
		for i, set := range []func(*users.User, string){
			func(u *users.User, v string) { u.FullName = v },
			func(u *users.User, v string) { u.PlatformUserID = v },
			func(u *users.User, v string) { u.Address.City = v },
			func(u *users.User, v string) { u.BankAccount.AccountHolderName = v },
		} {
			for _, c := range bidi {
				u := alice()
				u.UMALocal = "b" + string(rune('a'+i))
				set(&u, "alice"+c+"gnp.exe")
				_, err := s.Create(ctx, db, u)
				wantCode(t, err, 400, vaspd.CodeInvalidInput)
			}
		}
		b := acme()
		b.BusinessInfo.LegalName = "Acme\u2067Corp"
		_, err := s.Create(ctx, db, b)
		wantCode(t, err, 400, vaspd.CodeInvalidInput)

		// Right-to-left names with their marks are names.
		rtl := alice()
		rtl.UMALocal = "rtl"
		rtl.FullName = "\u05d3\u05d5\u05d3 \u200f(\u05db\u05d4\u05df)\u200e \u0639\u0644\u064a\u061c"
		if got, err := s.Create(ctx, db, rtl); err != nil || got.FullName != rtl.FullName {
			t.Fatalf("a name written right to left with its marks: %+v %v", got, err)
		}

		im := users.NewImporter(s, users.ImporterOptions{})
		j := importFile(t, im, "umaAddress,platformUserId,userType,fullName\n"+
			"$r1,p1,INDIVIDUAL,alice\u202egnp.exe\n"+
			"$r2,p\u202e2,INDIVIDUAL,Bob\n"+
			"$r3,p3,INDIVIDUAL,Bob Smith\n")
		if j.Successful != 1 || j.Failed != 2 || len(j.Errors) != 2 {
			t.Fatalf("job %+v", j)
		}
		if c := j.Errors[1].CorrelationID; c != "row_2" {
			t.Errorf("a platformUserId with a bidi control reported as %q", c)
		}

		a, err := s.Create(ctx, db, alice())
		if err != nil {
			t.Fatal(err)
		}
		update := func(p users.Patch) error {
			return db.InTx(ctx, func(tx *store.Tx) error {
				_, err := s.Update(ctx, tx, a.ID, p)
				return err
			})
		}
		bad := "alice\u202egnp.exe"
		wantCode(t, update(users.Patch{FullName: &bad}), 400, vaspd.CodeInvalidInput)
		wantCode(t, update(users.Patch{Address: &users.Address{Line1: bad, PostalCode: "1", Country: "US"}}), 400,
			vaspd.CodeInvalidInput)
		// Stored before the check: other edits pass, and keep it.
		if _, err := db.ExecContext(ctx, `UPDATE users SET profile = $1 WHERE id = $2`,
			`{"fullName":"`+bad+`"}`, a.ID); err != nil {
			t.Fatal(err)
		}
		pending := users.KYCPending
		if err := update(users.Patch{KYCStatus: &pending}); err != nil {
			t.Fatalf("edit of a user whose stored name has a bidi control: %v", err)
		}
		if got, err := s.Get(ctx, db, a.ID); err != nil || got.FullName != bad {
			t.Fatalf("after the edit: %+v %v", got, err)
		}
		other := "bob\u2066x"
		wantCode(t, update(users.Patch{FullName: &other}), 400, vaspd.CodeInvalidInput)
	})
}
