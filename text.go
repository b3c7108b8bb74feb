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
