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

// textValues are u's free-text values (textFields) by name, as they are
// now: what checkControls compares a changed user with.
func (u *User) textValues() map[string]string {
	fs := u.textFields()
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		m[f.name] = *f.v
	}
	return m
}

// checkControls refuses a C1 control character, with text's message
// (such a value is not printable text either), a bidirectional
// embedding, override or isolate control (vaspd.IsBidiControl: it makes
// the value display as other text), or an invisible format character (it
// makes a look-alike: any in an identifier, those a name's script does not
// need in text shown to people, as the field's kind says), in a free-text
// value of u (normalised) that old, u's values as stored (nil for a new
// user), does not hold already.
func (u *User) checkControls(old map[string]string) error {
	for _, f := range u.textFields() {
		v := *f.v
		if was, ok := old[f.name]; ok && was == v {
			continue
		}
		if strings.ContainsFunc(v, isC1) {
			return invalid("%s must be at most %d characters of printable text", f.name, maxText)
		}
		if vaspd.HasBidiControl(v) {
			return invalid("%s must not contain a bidirectional embedding, override or isolate control "+
				"(U+202A to U+202E, U+2066 to U+2069)", f.name)
		}
		if r, bad := vaspd.FormatChar(v); bad && f.kind == identifier {
			return invalid("%s must not contain an invisible format character (%U)", f.name, r)
		}
		if r, bad := vaspd.InvisibleInName(v); bad && f.kind == shown {
			return invalid("%s must not contain the invisible character %U here (a name keeps only a joiner "+
				"between two visible characters, a direction mark, or an emoji flag's tags)", f.name, r)
		}
	}
	return nil
}

// printable reports whether s, valid UTF-8, an identifier, has no control
// character (C0, DEL or C1) and no invisible format character (which
// includes the bidirectional controls).
func printable(s string) bool {
	_, format := vaspd.FormatChar(s)
	return !strings.ContainsFunc(s, unicode.IsControl) && !format
}
