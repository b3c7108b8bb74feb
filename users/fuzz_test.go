package users_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd/users"
)

// FuzzParseAddress: any input either fails with a 400 or yields a local
// part that is already normalised and renders to an address that parses
// back to itself.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"$alice@vasp.example", "Bob@VASP.example", "$x", "", "$@", "$a@b@vasp.example",
		"$ä@vasp.example", "$a b", strings.Repeat("a", 65), "$a@vasp.example:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		local, err := users.ParseAddress(s, "vasp.example")
		if err != nil {
			wantCode(t, err, 400, "INVALID_UMA_ADDRESS")
			return
		}
		again, err := users.NormalizeLocal(local)
		if err != nil || again != local {
			t.Fatalf("%q -> %q -> %q, %v", s, local, again, err)
		}
		u := users.User{UMALocal: local}
		back, err := users.ParseAddress(u.UMAAddress("vasp.example"), "vasp.example")
		if err != nil || back != local {
			t.Fatalf("%q -> %q -> %q, %v", s, local, back, err)
		}
	})
}
