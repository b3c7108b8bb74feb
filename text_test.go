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
