package vaspd

import (
	"strings"
	"unicode/utf8"
)

// Truncate shortens s to at most n bytes followed by "…", cutting between
// characters, never inside one. What it returns is stored (a reason, a
// counterparty's text) or echoed in error messages, and PostgreSQL refuses
// text that is not UTF-8: every package that shortens outside input for
// either purpose calls this one.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Storable is s as a TEXT column takes it: invalid UTF-8 and NUL, which
// PostgreSQL refuses, each become U+FFFD. Text that came from outside (a
// receiver's answer, an error quoting one) is made storable with this
// before it is kept, so that a record of an outcome cannot fail on it.
func Storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// IsBidiControl reports whether r is a bidirectional embedding, override
// or isolate control (U+202A–U+202E, U+2066–U+2069). Each reorders the
// text that follows it when displayed: "alice\u202Egnp.exe" reads as
// "aliceexe.png". Names and other free text refuse them. The marks
// U+200E, U+200F and U+061C are not among them: they only set the
// direction of the neutral characters next to them, reorder nothing that
// is not already there, and names written right to left need them to
// display their punctuation and digits rightly.
func IsBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// HasBidiControl reports whether s holds a character IsBidiControl names.
func HasBidiControl(s string) bool { return strings.ContainsFunc(s, IsBidiControl) }
