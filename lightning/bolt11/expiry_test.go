package bolt11

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
)

// An 'x' field zpay32 would multiply into a wrapped time.Duration is
// refused: 2^55+3600 seconds times 10^9 is 3600 s modulo 2^64. Properly
// signed, so only the expiry is wrong. Expiries up to MaxExpiry still
// decode, whatever their encoding.
func TestDecodeRejectsExpiryOverflow(t *testing.T) {
	key := testKey(t)
	s, err := Encode(Request{
		Network: Regtest, PaymentHash: sha256.Sum256([]byte("p")), PaymentAddr: sha256.Sum256([]byte("s")),
		AmountMsat: 5000, DescriptionHash: sha256.Sum256([]byte("d")), Timestamp: time.Unix(1_700_000_000, 0), Expiry: time.Hour,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	payee := hex.EncodeToString(key.PubKey().SerializeCompressed())
	for _, tc := range []struct {
		secs uint64
		want time.Duration // 0: refused
	}{
		{1<<55 + 3600, 0},
		{1<<64 - 1, 0},
		{uint64(MaxExpiry/time.Second) + 1, 0},
		{uint64(MaxExpiry / time.Second), MaxExpiry},
		{3600, time.Hour},
	} {
		forged := withExpiry(t, s, tc.secs, key)
		inv, err := Decode(forged, Regtest)
		switch {
		case tc.want == 0 && !errors.Is(err, lightning.ErrInvalidInvoice):
			t.Errorf("x = %d s: decoded with expiry %s, %v; want ErrInvalidInvoice", tc.secs, inv.Expiry, err)
		case tc.want != 0 && (err != nil || inv.Expiry != tc.want || inv.Destination != payee):
			t.Errorf("x = %d s: %+v, %v; want expiry %s from %s", tc.secs, inv, err, tc.want, payee)
		}
	}
}

// withExpiry re-encodes payment request s with its first 'x' field set to
// secs (as few 5-bit groups as needed), signed by key.
func withExpiry(t testing.TB, s string, secs uint64, key *secp256k1.PrivateKey) string {
	t.Helper()
	sep := strings.LastIndexByte(s, '1')
	hrp, data := s[:sep], from32(t, s[sep+1:len(s)-checksumGroups])
	body := data[:len(data)-signatureGroups]
	var x []byte
	for v := secs; v > 0; v >>= 5 {
		x = append([]byte{byte(v & 31)}, x...)
	}
	out := append([]byte{}, body[:timestampGroups]...)
	for i, done := timestampGroups, false; i < len(body); {
		typ, n := body[i], int(body[i+1])<<5|int(body[i+2])
		field := body[i+3 : i+3+n]
		if typ == fieldTypeX && !done {
			field, done = x, true
		}
		out = append(out, typ, byte(len(field)>>5), byte(len(field)&31))
		out = append(out, field...)
		i += 3 + n
	}
	// BOLT11: a recoverable signature over sha256(hrp ‖ data in bytes),
	// written r ‖ s ‖ recovery id.
	sig := signCompact(key, append([]byte(hrp), regroup(out, 5, 8)...))
	out = append(out, regroup(append(sig[1:], (sig[0]-27)&3), 8, 5)...)
	return hrp + "1" + to32(out) + to32(bech32Checksum(hrp, out))
}

func from32(t testing.TB, s string) []byte {
	out := make([]byte, len(s))
	for i := range s {
		v := strings.IndexByte(bech32Charset, s[i])
		if v < 0 {
			t.Fatalf("not bech32: %q", s[i])
		}
		out[i] = byte(v)
	}
	return out
}

func to32(data []byte) string {
	b := make([]byte, len(data))
	for i, v := range data {
		b[i] = bech32Charset[v]
	}
	return string(b)
}

// regroup converts between bit group sizes, padding the last group.
func regroup(data []byte, from, to uint) []byte {
	var out []byte
	acc, bits := uint(0), uint(0)
	for _, v := range data {
		acc, bits = acc<<from|uint(v), bits+from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&(1<<to-1)))
		}
	}
	if bits > 0 {
		out = append(out, byte(acc<<(to-bits)&(1<<to-1)))
	}
	return out
}

// bech32Checksum is BIP-173's checksum of hrp and data (5-bit groups).
func bech32Checksum(hrp string, data []byte) []byte {
	var values []byte
	for i := range hrp {
		values = append(values, hrp[i]>>5)
	}
	values = append(values, 0)
	for i := range hrp {
		values = append(values, hrp[i]&31)
	}
	values = append(append(values, data...), 0, 0, 0, 0, 0, 0)
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if top>>i&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	chk ^= 1
	out := make([]byte, 6)
	for i := range out {
		out[i] = byte(chk >> (5 * (5 - i)) & 31)
	}
	return out
}
