package bech32

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecode: no panic on any input, and whatever decodes re-encodes to the
// same string (lowercased) and decodes to the same data.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"a12uel5l", "A12UEL5L", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "uma1qqqq", "1", "uma1", "Uma1QQ", "x1\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hrp, data, err := Decode(s, 4096)
		if err != nil {
			return
		}
		out, err := Encode(hrp, data)
		if err != nil {
			t.Fatalf("re-encode %q: %v", s, err)
		}
		if out != strings.ToLower(s) {
			t.Fatalf("%q re-encoded as %q", s, out)
		}
		hrp2, data2, err := Decode(out, 4096)
		if err != nil || hrp2 != hrp || !bytes.Equal(data2, data) {
			t.Fatalf("round trip %q: %v", s, err)
		}
	})
}
