package bech32

import (
	"bytes"
	"strings"
	"testing"
)

// BIP-173 test vectors.
func TestBIP173Valid(t *testing.T) {
	for _, s := range []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"11" + strings.Repeat("q", 82) + "c8247j",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
	} {
		if _, _, err := decodeRaw(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// decodeRaw checks the checksum only (BIP-173 vectors are not all 8-bit aligned).
func decodeRaw(s string) (string, []byte, error) {
	_, _, err := Decode(s, 1000)
	if err == ErrPadding {
		return "", nil, nil
	}
	return "", nil, err
}

func TestBIP173Invalid(t *testing.T) {
	for _, s := range []string{
		"pzry9x0s0muk", "1pzry9x0s0muk", "x1b4n0q5v", "li1dgmt3", "de1lg7wt\xff",
		"A1G7SGD8", "10a06t8", "1qzzfhee", "a12UEL5L",
	} {
		if _, _, err := Decode(s, 1000); err == nil {
			t.Errorf("%q decoded", s)
		}
	}
}

func TestRoundTripLong(t *testing.T) {
	data := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 200)
	s, err := Encode("uma", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "uma1") || len(s) < 90 {
		t.Fatalf("unexpected %q", s[:10])
	}
	hrp, got, err := Decode(s, 4096)
	if err != nil || hrp != "uma" || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %v %q", err, hrp)
	}
	if _, _, err := Decode(s, 100); err != ErrTooLong {
		t.Fatalf("want ErrTooLong, got %v", err)
	}
}
