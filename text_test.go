package vaspd

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTruncateKeepsCharactersWhole: Truncate cuts on a character boundary,
// never inside one. What it returns is stored (a reject's reason) or sent
// (error messages echoing input), and must stay UTF-8.
func TestTruncateKeepsCharactersWhole(t *testing.T) {
	for _, s := range []string{"a" + strings.Repeat("é", 150), strings.Repeat("€", 100), "ab" + strings.Repeat("😀", 60)} {
		got := Truncate(s, 200)
		cut := strings.TrimSuffix(got, "…")
		if !utf8.ValidString(got) || !strings.HasPrefix(s, cut) || len(cut) > 200 || len(cut) < 197 || cut == got {
			t.Errorf("Truncate(%d bytes, 200) = %q (%d bytes)", len(s), got, len(got))
		}
	}
	if got := Truncate("short", 200); got != "short" {
		t.Errorf("Truncate of a short string = %q", got)
	}
}

// TestStorable: NUL and invalid UTF-8, which PostgreSQL refuses in TEXT,
// become U+FFFD; valid text is unchanged.
func TestStorable(t *testing.T) {
	for in, want := range map[string]string{"ok é": "ok é", "a\x00b": "a\uFFFDb", "x\xffy": "x\uFFFDy"} {
		if got := Storable(in); got != want || !utf8.ValidString(got) {
			t.Errorf("Storable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIsBidiControl: the embedding, override and isolate controls, and
// not the marks right-to-left text needs.
func TestIsBidiControl(t *testing.T) {
	for _, r := range []rune{0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069} {
		if !IsBidiControl(r) {
			t.Errorf("U+%04X is not a bidi control", r)
		}
	}
	for _, r := range []rune{0x200e, 0x200f, 0x061c, 0x200d, 0x2029, 0x202f, 0x2065, 0x206a, 'a', 0x05d0} {
		if IsBidiControl(r) {
			t.Errorf("U+%04X is a bidi control", r)
		}
	}
	if !HasBidiControl("alice\u202egnp.exe") || HasBidiControl("\u05d3\u05d5\u05d3 \u200f(\u05db\u05d4\u05df)") {
		t.Error("HasBidiControl")
	}
}
