package users

import (
	"strings"
	"unicode"

	"github.com/vaspd/vaspd"
)

// isC1 reports whether r is a C1 control character (U+0080 to U+009F):
// U+0085 (NEL) is a line break to many readers, U+009B (CSI) an 8-bit
// terminal escape. text refuses C0 controls and DEL; these are refused by
// checkControls, on create and in a PATCH's changed values only, so that
// one stored before the check does not block the user's other edits.
func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// textField is one free-text value, named as text names it.
type textField struct{ name, v string }

// textFields are u's free-text values.
func (u *User) textFields() []textField {
	f := []textField{{"platformUserId", u.PlatformUserID}}
	if b := u.BusinessInfo; b != nil {
		f = append(f, textField{"businessInfo.legalName", b.LegalName},
			textField{"businessInfo.registrationNumber", b.RegistrationNumber}, textField{"businessInfo.taxId", b.TaxID})
	}
	f = append(f, textField{"fullName", u.FullName}, textField{"email", u.Email})
	if a := u.Address; a != nil {
		f = append(f, textField{"address.line1", a.Line1}, textField{"address.line2", a.Line2},
			textField{"address.town", a.Town}, textField{"address.city", a.City}, textField{"address.state", a.State},
			textField{"address.postalCode", a.PostalCode}, textField{"address.country", a.Country})
	}
	if b := u.BankAccount; b != nil {
		f = append(f, textField{"bankAccountInfo.platformAccountId", b.PlatformAccountID},
			textField{"bankAccountInfo.accountHolderName", b.AccountHolderName},
			textField{"bankAccountInfo.bankName", b.BankName}, textField{"bankAccountInfo.clabeNumber", b.ClabeNumber},
			textField{"bankAccountInfo.accountNumber", b.AccountNumber},
			textField{"bankAccountInfo.routingNumber", b.RoutingNumber},
			textField{"bankAccountInfo.accountCategory", b.AccountCategory}, textField{"bankAccountInfo.pixKey", b.PixKey},
			textField{"bankAccountInfo.pixKeyType", b.PixKeyType}, textField{"bankAccountInfo.iban", b.IBAN},
			textField{"bankAccountInfo.swiftBic", b.SwiftBic}, textField{"bankAccountInfo.currencyCode", b.CurrencyCode},
			textField{"bankAccountInfo.vpa", b.VPA})
	}
	return f
}

// checkControls refuses a C1 control character, with text's message
// (such a value is not printable text either), or a bidirectional
// embedding, override or isolate control (vaspd.IsBidiControl: it makes
// the value display as other text), in a free-text value of u (normalised)
// that old, u's values as stored (nil for a new user), does not hold
// already.
func (u *User) checkControls(old []textField) error {
	was := make(map[string]string, len(old))
	for _, f := range old {
		was[f.name] = f.v
	}
	for _, f := range u.textFields() {
		if v, ok := was[f.name]; ok && v == f.v {
			continue
		}
		if strings.ContainsFunc(f.v, isC1) {
			return invalid("%s must be at most %d characters of printable text", f.name, maxText)
		}
		if vaspd.HasBidiControl(f.v) {
			return invalid("%s must not contain a bidirectional embedding, override or isolate control "+
				"(U+202A to U+202E, U+2066 to U+2069)", f.name)
		}
	}
	return nil
}

// printable reports whether s, valid UTF-8, has no control character (C0,
// DEL or C1) and no bidirectional embedding, override or isolate control.
func printable(s string) bool {
	return !strings.ContainsFunc(s, unicode.IsControl) && !vaspd.HasBidiControl(s)
}
