package users_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestTextRefusesInvisibleFormatCharacters: invisible format characters
// (Unicode category Cf) such as U+200B ZERO WIDTH SPACE, U+2060 WORD
// JOINER and U+FEFF (a byte order mark) were accepted in every free-text
// value: "p\u200b1" was another platformUserId than "p1" though it reads
// the same, and "Alice\u200b" another name. They are refused on create,
// in a bulk row (its correlation id then the row's number) and in a PATCH
// that sets them; one stored before blocks no other edit.
func TestTextRefusesInvisibleFormatCharacters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := checkRefused(t, db, refusedText{
			bad:   []string{"\u200b", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u2062", "\U000e0041"},
			local: "z",
			value: func(c string) string { return "Al" + c + "ice" },
			fields: []func(*users.User, string){
				func(u *users.User, v string) { u.FullName = v },
				func(u *users.User, v string) { u.PlatformUserID = v },
				func(u *users.User, v string) { u.Address.Line1 = v },
				func(u *users.User, v string) { u.BankAccount.AccountHolderName = v },
			},
		})

		// Identifiers refuse every one, the joiners and direction marks
		// a name may hold included, and the error names the field.
		for _, c := range []struct {
			name string
			set  func(*users.User, string)
			v    string // around the character, valid without it
		}{
			{"platformUserId", func(u *users.User, v string) { u.PlatformUserID = v }, "p-1"},
			{"email", func(u *users.User, v string) { u.Email = v }, "al@x.example"},
			{"address.postalCode", func(u *users.User, v string) { u.Address.PostalCode = v }, "94105"},
			{"bankAccountInfo.accountNumber", func(u *users.User, v string) { u.BankAccount.AccountNumber = v }, "1234"},
			{"bankAccountInfo.pixKey", func(u *users.User, v string) {
				u.BankAccount = &users.BankAccountInfo{AccountType: users.AccountPIX, PixKey: v, PixKeyType: "RANDOM"}
			}, "k-1"},
			{"bankAccountInfo.vpa", func(u *users.User, v string) {
				u.BankAccount = &users.BankAccountInfo{AccountType: users.AccountUPI, VPA: v}
			}, "al@upi"},
			{"bankAccountInfo.platformAccountId", func(u *users.User, v string) { u.BankAccount.PlatformAccountID = v }, "a-1"},
		} {
			for _, r := range []string{"\u200c", "\u200d", "\u200e", "\u200f", "\u061c", "\u200b"} {
				u := alice()
				u.UMALocal = "id"
				c.set(&u, c.v[:1]+r+c.v[1:])
				_, err := s.Create(ctx, db, u)
				wantCode(t, err, 400, vaspd.CodeInvalidInput)
				if !strings.Contains(err.Error(), c.name) {
					t.Errorf("%s with %U: %v, which does not name the field", c.name, []rune(r)[0], err)
				}
			}
		}
		for _, c := range []struct {
			name string
			set  func(*users.User, string)
		}{
			{"businessInfo.registrationNumber", func(u *users.User, v string) { u.BusinessInfo.RegistrationNumber = v }},
			{"businessInfo.taxId", func(u *users.User, v string) { u.BusinessInfo.TaxID = v }},
		} {
			b := acme()
			b.UMALocal = "idb"
			c.set(&b, "R\u200d1")
			_, err := s.Create(ctx, db, b)
			wantCode(t, err, 400, vaspd.CodeInvalidInput)
			if !strings.Contains(err.Error(), c.name) {
				t.Errorf("%s: %v, which does not name the field", c.name, err)
			}
		}

		// A name keeps the joiners between its letters, as Persian,
		// Indic scripts and emoji need them, not at either end, next to
		// a space or alone.
		for i, name := range []string{
			"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",                           // Persian, ZWNJ
			"\u0915\u094d\u200d\u0937",                                                   // Devanagari, ZWJ after a virama
			"Ann \U0001f468\u200d\U0001f469\u200d\U0001f467",                             // an emoji family
			"Ann \u2764\ufe0f\u200d\U0001f525",                                           // after a variation selector
			"Ann \U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", // a subdivision flag
		} {
			u := alice()
			u.UMALocal = "n" + string(rune('a'+i))
			u.FullName, u.Address.City = name, name
			if got, err := s.Create(ctx, db, u); err != nil || got.FullName != name || got.Address.City != name {
				t.Errorf("name %+q: %+v %v", name, got, err)
			}
		}
		for _, name := range []string{"\u200dAnn", "Ann\u200c", "An\u200c\u200cn", "Ann \u200dBee", "Ann\u200d Bee",
			"\u200d", "\u200e", "\u200e\u200f", "Ann \U000e0067\U000e007f", "Ann \U0001f3f4\U000e0067", "Ann\U000e007f"} {
			u := alice()
			u.UMALocal = "bad"
			u.FullName = name
			_, err := s.Create(ctx, db, u)
			wantCode(t, err, 400, vaspd.CodeInvalidInput)
			if !strings.Contains(err.Error(), "fullName") {
				t.Errorf("%+q: %v, which does not name the field", name, err)
			}
		}
	})
}
