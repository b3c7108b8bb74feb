package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
)

func mustStandard(t testing.TB, cfg StandardConfig) *StandardVerifier {
	t.Helper()
	v, err := NewStandardVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func errorIs(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func assertHeaders(t *testing.T, got, want http.Header) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d headers %v, want %d %v", len(got), got, len(want), want)
	}
	for k := range want {
		if got.Get(k) != want.Get(k) {
			t.Errorf("%s = %q\n want %q", k, got.Get(k), want.Get(k))
		}
	}
}

// hexHMAC is the X-UMAaas-Signature of body under secret, computed with the
// standard library directly rather than through the package.
func hexHMAC(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}
