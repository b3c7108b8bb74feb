package interop

import (
	"net/url"
	"strconv"
	"testing"
)

// Nonces (§2.4, §6.7 #17): both SDKs draw 32-bit nonces, so nonce caches
// must be scoped by signer domain; we draw 64 bits. Every ours→SDK test
// already shows that the SDKs accept our 64-bit decimal nonces.
func TestNonceWidth(t *testing.T) {
	const samples = 64
	maxOf := func(t *testing.T, next func() string) uint64 {
		var m uint64
		for range samples {
			n, err := strconv.ParseUint(next(), 10, 64)
			if err != nil {
				t.Fatalf("nonce is not a decimal uint64: %v", err)
			}
			m = max(m, n)
		}
		return m
	}
	queryNonce := func(t *testing.T, raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("nonce")
	}

	t.Run("ours", func(t *testing.T) {
		// P(64 draws all below 2^32) = 2^-2048.
		if m := maxOf(t, func() string { return queryNonce(t, ourLnurlpRequest(t).String()) }); m < 1<<32 {
			t.Errorf("largest of %d nonces is %d: not 64-bit", samples, m)
		}
	})
	t.Run("gosdk", func(t *testing.T) {
		m := maxOf(t, func() string {
			u, err := sdkSignedLnurlpURL()
			if err != nil {
				t.Fatal(err)
			}
			return queryNonce(t, u)
		})
		if m >= 1<<32 {
			t.Errorf("uma-go-sdk drew a nonce ≥ 2^32 (%d); update docs/interop.md", m)
		}
	})
	t.Run("jssdk", func(t *testing.T) {
		m := maxOf(t, func() string {
			var out struct{ URL string }
			jsCall(t, "signLnurlpRequest", map[string]any{"privateKey": vasp1.SigningKeyHex, "receiverAddress": bob,
				"senderVaspDomain": vasp1.Domain, "isSubjectToTravelRule": true}, &out)
			return queryNonce(t, out.URL)
		})
		if m >= 1<<32 {
			t.Errorf("the JS SDK drew a nonce ≥ 2^32 (%d); update docs/interop.md", m)
		}
	})
}
