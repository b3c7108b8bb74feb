package auth

import "testing"

// A token's name is shown by `vaspd token list` and the tokens API: a
// control character (C0, DEL or C1) or a bidi control in it could rewrite
// or reorder what an operator reads, so each is refused; other text,
// emoji joined by ZWJ included, is kept.
func TestCheckTokenName(t *testing.T) {
	for _, name := range []string{"ci", "  deploy bot  ", "Zahlungen Ü", "👩‍💻 laptop", "日本"} {
		if err := CheckTokenName(name); err != nil {
			t.Errorf("CheckTokenName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "   ", "a\x00b", "a\x1b[2Jb", "a\x7fb", "a\u0085b", "a\u009bb",
		"evil\u202egpj.exe", "a\u2066b", "a\u200fb", "\xff", string(make([]byte, 201))} {
		err := CheckTokenName(name)
		if err == nil || err.Code != "INVALID_INPUT" {
			t.Errorf("CheckTokenName(%q) = %v, want INVALID_INPUT", name, err)
		}
	}
}
