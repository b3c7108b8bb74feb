package users_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// refusedText is a class of characters free text refuses, as the users
// service is checked for it by checkRefused: bad are its characters, one
// per case; local prefixes the test users' UMA names; value builds a
// free-text value around one of them.
type refusedText struct {
	bad    []string
	local  string
	value  func(c string) string
	fields []func(*users.User, string)
}

// checkRefused checks that a value holding any of rt's characters is 400
// INVALID_INPUT when a user or business is created with it in each field,
// in a bulk-upload row (whose platformUserId holding one is reported by
// the row's number), and in a PATCH that sets it; and that one stored
// before the check blocks no other edit of the user, and is kept. It
// returns the service, for the class's own checks.
func checkRefused(t *testing.T, db *store.DB, rt refusedText) *users.Service {
	t.Helper()
	s, _ := newService(t, db)
	for i, set := range rt.fields {
		for _, c := range rt.bad {
			u := alice()
			u.UMALocal = rt.local + string(rune('a'+i))
			set(&u, rt.value(c))
			_, err := s.Create(ctx, db, u)
			wantCode(t, err, 400, vaspd.CodeInvalidInput)
		}
	}
	b := acme()
	b.BusinessInfo.LegalName = "Acme" + rt.bad[0] + "Corp"
	_, err := s.Create(ctx, db, b)
	wantCode(t, err, 400, vaspd.CodeInvalidInput)

	im := users.NewImporter(s, users.ImporterOptions{})
	j := importFile(t, im, "umaAddress,platformUserId,userType,fullName\n"+
		"$"+rt.local+"r1,p1,INDIVIDUAL,"+rt.value(rt.bad[0])+"\n"+
		"$"+rt.local+"r2,p"+rt.bad[len(rt.bad)-1]+"2,INDIVIDUAL,Bob\n"+
		"$"+rt.local+"r3,p3,INDIVIDUAL,Bob Smith\n")
	if j.Successful != 1 || j.Failed != 2 || len(j.Errors) != 2 {
		t.Fatalf("job %+v", j)
	}
	if c := j.Errors[1].CorrelationID; c != "row_2" {
		t.Errorf("a platformUserId with %q reported as %q", rt.bad[len(rt.bad)-1], c)
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
	bad := rt.value(rt.bad[0])
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
		t.Fatalf("edit of a user whose stored name has %q: %v", rt.bad[0], err)
	}
	got, err := s.Get(ctx, db, a.ID)
	if err != nil || got.FullName != bad || !strings.Contains(got.Address.Line1, rt.bad[0]) {
		t.Fatalf("after the edit: %+v %v", got, err)
	}
	other := "Bob" + rt.bad[len(rt.bad)-1] + "x"
	wantCode(t, update(users.Patch{FullName: &other}), 400, vaspd.CodeInvalidInput)
	return s
}

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
		s := checkRefused(t, db, refusedText{
			bad:   []string{"\u0085", "\u0080", "\u009b"},
			local: "c",
			value: func(c string) string { return "Al" + c + "ice" },
			fields: []func(*users.User, string){
				func(u *users.User, v string) { u.FullName = v },
				func(u *users.User, v string) { u.PlatformUserID = v },
				func(u *users.User, v string) { u.Address.Line1 = v },
				func(u *users.User, v string) { u.BankAccount.AccountHolderName = v },
			},
		})

		// A business's stored legal name, its fullName too.
		b, err := s.Create(ctx, db, acme())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE users SET profile = $1 WHERE id = $2`,
			`{"businessInfo":{"legalName":"Acme\u0085Corp"}}`, b.ID); err != nil {
			t.Fatal(err)
		}
		pending := users.KYCPending
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
		s := checkRefused(t, db, refusedText{
			bad:   []string{"\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"},
			local: "b",
			value: func(c string) string { return "alice" + c + "gnp.exe" },
			fields: []func(*users.User, string){
				func(u *users.User, v string) { u.FullName = v },
				func(u *users.User, v string) { u.PlatformUserID = v },
				func(u *users.User, v string) { u.Address.City = v },
				func(u *users.User, v string) { u.BankAccount.AccountHolderName = v },
			},
		})

		// Right-to-left names with their marks are names.
		rtl := alice()
		rtl.UMALocal = "rtl"
		rtl.FullName = "\u05d3\u05d5\u05d3 \u200f(\u05db\u05d4\u05df)\u200e \u0639\u0644\u064a\u061c"
		if got, err := s.Create(ctx, db, rtl); err != nil || got.FullName != rtl.FullName {
			t.Fatalf("a name written right to left with its marks: %+v %v", got, err)
		}
	})
}
