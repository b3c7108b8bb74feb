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
	oldKey, newKey, otherKey := genKey(t), genKey(t), genKey(t)
	domain, serve, fetches := rotatingKeys(t, oldKey)
	now := time.Now()
	clock := func() time.Time { return now }
	v := &Verifier{Keys: &KeyFetcher{Now: clock}, Nonces: NewMemoryNonceCache(now.Add(-time.Hour)), Now: clock}
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
	serve(newKey)
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

func genKey(t *testing.T) *PrivateKey {
	t.Helper()
	k, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rotatingKeys serves key's public keys at the returned domain, stating
// an expiry a year away, until serve is given another; fetches counts the
// requests.
func rotatingKeys(t *testing.T, key *PrivateKey) (domain string, serve func(*PrivateKey), fetches *atomic.Int32) {
	var mu sync.Mutex
	fetches = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		k := key
		mu.Unlock()
		exp := time.Now().Add(365 * 24 * time.Hour).Unix()
		_ = json.NewEncoder(w).Encode(PubKeyResponse{SigningPubKey: k.PublicKey().Hex(), EncryptionPubKey: k.PublicKey().Hex(), ExpirationTimestamp: &exp})
	}))
	t.Cleanup(srv.Close)
	serve = func(k *PrivateKey) { mu.Lock(); key = k; mu.Unlock() }
	return strings.TrimPrefix(srv.URL, "http://"), serve, fetches
}

// An UMA invoice (an UMA request's) is verified as the other messages
// are: signed with the receiver's rotated key, it has the keys fetched
// anew, at most once a KeyRefreshEvery; it was refused INVALID_SIGNATURE
// until the cached keys expired.
func TestVerifyInvoiceRefetchesRotatedKeys(t *testing.T) {
	oldKey, newKey, otherKey := genKey(t), genKey(t), genKey(t)
	domain, serve, fetches := rotatingKeys(t, oldKey)
	now := time.Now()
	clock := func() time.Time { return now }
	v := &Verifier{Keys: &KeyFetcher{Now: clock}, Nonces: NewMemoryNonceCache(now.Add(-time.Hour)), Now: clock}
	invoice := func(key *PrivateKey) *Invoice {
		inv := &Invoice{ReceiverUMA: "$bob@" + domain, InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69ce", Amount: 1250,
			ReceivingCurrency: InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
			Expiration:        now.Add(24 * time.Hour).Unix(), IsSubjectToTravelRule: true, UmaVersions: Version1.String(),
			SenderUMA: "$alice@vasp2.example", Callback: "https://" + domain + "/api/uma/payreq/bob"}
		if err := inv.Sign(key); err != nil {
			t.Fatal(err)
		}
		return inv
	}
	ctx := context.Background()
	if _, err := v.VerifyInvoice(ctx, invoice(oldKey)); err != nil {
		t.Fatal(err)
	}
	serve(newKey)
	now = now.Add(2 * time.Minute)
	for _, what := range []string{"signed with the rotated key", "again, the new key cached"} {
		keys, err := v.VerifyInvoice(ctx, invoice(newKey))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !keys.Signing.Equal(newKey.PublicKey()) {
			t.Fatalf("%s: answered the old keys", what)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	for range 5 {
		_, err := v.VerifyInvoice(ctx, invoice(otherKey))
		wantCode(t, err, CodeInvalidSignature)
	}
	now = now.Add(2 * time.Minute)
	for range 5 {
		_, err := v.VerifyInvoice(ctx, invoice(otherKey))
		wantCode(t, err, CodeInvalidSignature)
	}
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after bad signatures, want 3", n)
	}
}

// An invoice's key fetch and its refresh share KeyTimeout, as a payreq's
// do: a receiver whose pubkey endpoint hangs on the refresh holds an UMA
// request's verification KeyTimeout at most, not the client's timeout.
func TestVerifyInvoiceRefreshWithinKeyTimeout(t *testing.T) {
	oldKey, newKey := genKey(t), genKey(t)
	hang := make(chan struct{})
	var hanging atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hanging.Load() {
			select {
			case <-r.Context().Done():
			case <-hang:
			}
			return
		}
		_ = json.NewEncoder(w).Encode(PubKeyResponse{SigningPubKey: oldKey.PublicKey().Hex(), EncryptionPubKey: oldKey.PublicKey().Hex()})
	}))
	defer srv.Close()
	defer close(hang)
	domain := strings.TrimPrefix(srv.URL, "http://")
	now := time.Now()
	clock := func() time.Time { return now }
	v := &Verifier{Keys: &KeyFetcher{Client: &http.Client{Timeout: 20 * time.Second}, Now: clock},
		Nonces: NewMemoryNonceCache(now.Add(-time.Hour)), Now: clock, KeyTimeout: 200 * time.Millisecond}
	invoice := func(key *PrivateKey) *Invoice {
		inv := &Invoice{ReceiverUMA: "$bob@" + domain, InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69cf", Amount: 1,
			ReceivingCurrency: InvoiceCurrency{Code: "USD", Decimals: 2}, Expiration: now.Add(time.Hour).Unix(),
			UmaVersions: Version1.String(), Callback: "https://" + domain + "/cb"}
		if err := inv.Sign(key); err != nil {
			t.Fatal(err)
		}
		return inv
	}
	if _, err := v.VerifyInvoice(t.Context(), invoice(oldKey)); err != nil {
		t.Fatal(err)
	}
	hanging.Store(true)
	now = now.Add(2 * time.Minute)
	start := time.Now()
	_, err := v.VerifyInvoice(t.Context(), invoice(newKey))
	wantCode(t, err, CodeInvalidSignature)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %s with a KeyTimeout of 200ms", took)
	}
}
