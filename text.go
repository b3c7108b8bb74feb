package vaspd

import "unicode/utf8"

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
