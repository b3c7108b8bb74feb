package uma

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A counterparty that rotates its keys signs with the new ones while we
// hold the old in the cache (an hour, or up to MaxTTL when it states a far
// expiry): a signature that fails with the cached key has the keys
// fetched anew, at most once a KeyRefreshEvery per domain, so that its
// messages are not refused until the cache expires, and a stream of bad
// signatures cannot make us fetch on each.
func TestVerifierRefetchesRotatedKeys(t *testing.T) {
	gen := func() *PrivateKey {
		k, err := GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	oldKey, newKey, otherKey := gen(), gen(), gen()
	var (
		mu      sync.Mutex
		serving = oldKey
		fetches atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		k := serving
		mu.Unlock()
		exp := time.Now().Add(365 * 24 * time.Hour).Unix()
		_ = json.NewEncoder(w).Encode(PubKeyResponse{SigningPubKey: k.PublicKey().Hex(), EncryptionPubKey: k.PublicKey().Hex(), ExpirationTimestamp: &exp})
	}))
	defer srv.Close()
	domain := strings.TrimPrefix(srv.URL, "http://")
	now := time.Now()
	clock := func() time.Time { return now }
	v := &Verifier{Keys: &KeyFetcher{Client: srv.Client(), Now: clock}, Nonces: NewMemoryNonceCache(now.Add(-time.Hour)), Now: clock}
	payreq := func(key *PrivateKey) *PayRequest {
		pr := &PayRequest{Amount: 1000, PayerData: &PayerData{Identifier: "$alice@" + domain, Compliance: &CompliancePayerData{}}}
		if err := pr.Sign(key, now); err != nil {
			t.Fatal(err)
		}
		return pr
	}
	ctx := context.Background()
	if _, err := v.VerifyPayRequest(ctx, payreq(oldKey)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	serving = newKey
	mu.Unlock()
	now = now.Add(2 * time.Minute)
	if _, err := v.VerifyPayRequest(ctx, payreq(newKey)); err != nil {
		t.Fatalf("signed with the rotated key: %v", err)
	}
	if _, err := v.VerifyPayRequest(ctx, payreq(newKey)); err != nil {
		t.Fatalf("again, the new key cached: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Bad signatures: one fetch per KeyRefreshEvery, however many.
	for range 5 {
		_, err := v.VerifyPayRequest(ctx, payreq(otherKey))
		wantCode(t, err, CodeInvalidSignature)
	}
	now = now.Add(2 * time.Minute)
	for range 5 {
		_, err := v.VerifyPayRequest(ctx, payreq(otherKey))
		wantCode(t, err, CodeInvalidSignature)
	}
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after bad signatures, want 3", n)
	}
}
