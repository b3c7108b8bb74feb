package vaspd

import (
	"strings"
	"unicode"
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

// FormatChar returns the first invisible format character (Unicode
// category Cf) in s, and whether there is one. An identifier (an id, an
// e-mail address, an account number) holds none: "p\u200b1" (U+200B ZERO
// WIDTH SPACE) reads as "p1" and is another value.
func FormatChar(s string) (rune, bool) {
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			return r, true
		}
	}
	return 0, false
}

// InvisibleInName returns the first invisible format character (Unicode
// category Cf) s, a name or other text shown to people, may not hold, and
// whether there is one. A name keeps those its script needs: the
// direction marks (U+200E, U+200F, U+061C; see IsBidiControl), ZERO WIDTH
// NON-JOINER and ZERO WIDTH JOINER between two visible characters (Persian
// and Indic words, emoji sequences; at either end, next to a space or
// another invisible character, each only hides a difference), and the tags
// of an emoji subdivision flag (U+1F3F4, tags, U+E007F CANCEL TAG). It
// must show something: a name of direction marks only is refused (its
// first character returned).
func InvisibleInName(s string) (rune, bool) {
	rs := []rune(s)
	visible := func(i int) bool {
		return i >= 0 && i < len(rs) && !unicode.Is(unicode.Cf, rs[i]) && !unicode.IsSpace(rs[i])
	}
	tag := func(i int) bool { return i >= 0 && i < len(rs) && rs[i] >= 0xe0020 && rs[i] <= 0xe007e }
	shown := false
	for i, r := range rs {
		if !unicode.Is(unicode.Cf, r) {
			shown = shown || !unicode.IsSpace(r)
			continue
		}
		ok := false
		switch {
		case r == 0x200e || r == 0x200f || r == 0x061c:
			ok = true
		case r == 0x200c || r == 0x200d:
			ok = visible(i-1) && visible(i+1)
		case tag(i):
			ok = (i > 0 && rs[i-1] == 0x1f3f4 || tag(i-1)) && (tag(i+1) || i+1 < len(rs) && rs[i+1] == 0xe007f)
		case r == 0xe007f:
			ok = tag(i - 1)
		}
		if !ok {
			return r, true
		}
	}
	if !shown && len(rs) > 0 {
		return rs[0], true
	}
	return 0, false
}
