package uma

import (
	"context"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

func TestSelfSignedCertificate(t *testing.T) {
	key, _ := GeneratePrivateKey()
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	der, err := NewSelfSignedCertificate(key, "vasp.example", nb, nb.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseCertificatePublicKey(der)
	if err != nil || !pub.Equal(key.PublicKey()) {
		t.Fatal(pub, err)
	}
	from, to, err := CertificateValidity(der)
	if err != nil || !from.Equal(nb) || !to.Equal(nb.AddDate(1, 0, 0)) {
		t.Fatal(from, to, err)
	}
	// The certificate's own signature verifies with its key.
	var c certificate
	if _, err := asn1.Unmarshal(der, &c); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(c.TBS.FullBytes)
	sig, err := ecdsa.ParseDERSignature(c.Signature.Bytes)
	if err != nil || !sig.Verify(h[:], pub.k) {
		t.Fatal("self-signature does not verify", err)
	}
	k := Keys{Signing: key, Encryption: key, SigningCertChain: [][]byte{der}, EncryptionCertChain: [][]byte{der}}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	other, _ := GeneratePrivateKey()
	k.Encryption = other
	wantCode(t, k.Validate(), CodeCertChainInvalid)

	// PEM round trip.
	chain, err := ParseCertChainPEM(EncodeCertChainPEM([][]byte{der}))
	if err != nil || string(chain[0]) != string(der) {
		t.Fatal(err)
	}

	// openssl, when installed, reads the certificate and verifies its self-signature.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed; skipping the external check")
		return
	}
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(pemPath, EncodeCertChainPEM([][]byte{der}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "x509", "-in", pemPath, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "secp256k1") || !strings.Contains(string(out), "CN=vasp.example") && !strings.Contains(string(out), "CN = vasp.example") {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	out, err = exec.Command("openssl", "verify", "-no_check_time", "-CAfile", pemPath, pemPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

func TestParseKeysRejectsJunk(t *testing.T) {
	for _, h := range []string{"", "zz", "00", strings.Repeat("00", 32), strings.Repeat("ff", 32)} {
		if _, err := ParsePrivateKeyHex(h); err == nil {
			t.Errorf("private key %q accepted", h)
		}
	}
	for _, h := range []string{"", "04", "02" + strings.Repeat("00", 32), "04" + strings.Repeat("11", 64)} {
		_, err := ParsePublicKeyHex(h)
		wantCode(t, err, CodeInvalidPubkeyFormat)
	}
	k, _ := GeneratePrivateKey()
	if s := k.String(); strings.Contains(s, "0") && len(s) > 40 {
		t.Fatal("private key printed")
	}
	compressed := k.PublicKey().k.SerializeCompressed()
	p, err := ParsePublicKey(compressed)
	if err != nil || !p.Equal(k.PublicKey()) {
		t.Fatal("compressed key", err)
	}
	_, err = ParseCertificatePublicKey([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	wantCode(t, err, CodeCertChainInvalid)
	_, err = ParseCertChainPEM([]byte("nothing"))
	wantCode(t, err, CodeCertChainInvalid)
}

// roundTripFunc is an injectable transport.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func jsonResponse(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
}

func TestKeyFetcher(t *testing.T) {
	key, _ := GeneratePrivateKey()
	now := time.Unix(1_800_000_000, 0)
	der, _ := NewSelfSignedCertificate(key, "vasp2.com", now.Add(-time.Hour), now.Add(time.Hour))
	own := Keys{Signing: key, Encryption: key, SigningCertChain: [][]byte{der}, EncryptionCertChain: [][]byte{der}}
	var calls atomic.Int32
	var lastURL string
	body, _ := json.Marshal(own.PubKeyResponse(now.Add(30 * time.Minute)))
	f := &KeyFetcher{
		Client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls.Add(1)
			lastURL = r.URL.String()
			switch r.URL.Host {
			case "vasp2.com", "localhost:8081":
				return jsonResponse(200, string(body)), nil
			case "down.com":
				return nil, errors.New("connection refused")
			case "404.com":
				return jsonResponse(404, "nope"), nil
			case "junk.com":
				return jsonResponse(200, `{"signingPubKey": 5}`), nil
			case "big.com":
				return jsonResponse(200, `{"x":"`+strings.Repeat("a", maxPubKeyBody)+`"}`), nil
			case "nokeys.com":
				return jsonResponse(200, `{}`), nil
			}
			return nil, errors.New("unexpected host")
		})},
		Now: func() time.Time { return now },
	}
	ctx := context.Background()
	k, err := f.PublicKeys(ctx, "vasp2.com")
	if err != nil || !k.Signing.Equal(key.PublicKey()) || lastURL != "https://vasp2.com/.well-known/lnurlpubkey" {
		t.Fatal(k, err, lastURL)
	}
	if _, err := f.PublicKeys(ctx, "vasp2.com"); err != nil || calls.Load() != 1 {
		t.Fatalf("not cached: %d calls", calls.Load())
	}
	// After expirationTimestamp the keys are fetched again.
	now = now.Add(31 * time.Minute)
	if _, err := f.PublicKeys(ctx, "vasp2.com"); err != nil || calls.Load() != 2 {
		t.Fatalf("cache ignored expiry: %d calls", calls.Load())
	}
	if _, err := f.PublicKeys(ctx, "localhost:8081"); err != nil || lastURL != "http://localhost:8081/.well-known/lnurlpubkey" {
		t.Fatal(lastURL, err)
	}
	for domain, code := range map[string]ErrorCode{
		"down.com":      CodeCounterpartyPubkeyFetchError,
		"404.com":       CodeCounterpartyPubkeyFetchError,
		"junk.com":      CodeInvalidPubkeyFormat,
		"big.com":       CodeInvalidPubkeyFormat,
		"nokeys.com":    CodeInvalidPubkeyFormat,
		"evil.com/x?y=": CodeInvalidInput,
		"":              CodeInvalidInput,
	} {
		_, err := f.PublicKeys(ctx, domain)
		wantCode(t, err, code)
	}
	// A shared cache is used as given (and keys already expired are not cached).
	now = now.Add(-31 * time.Minute)
	shared := &MemoryKeyCache{}
	f2 := &KeyFetcher{Client: f.Client, Cache: shared, Now: f.Now}
	if _, err := f2.PublicKeys(ctx, "vasp2.com"); err != nil {
		t.Fatal(err)
	}
	if _, ok := shared.Get("vasp2.com", now); !ok {
		t.Fatal("shared cache not filled")
	}
}

func TestNonceCacheAndWindow(t *testing.T) {
	ctx := context.Background()
	c := NewMemoryNonceCache(time.Unix(1000, 0))
	if err := c.CheckAndSave(ctx, "a.com", "1", time.Unix(2000, 0)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.CheckAndSave(ctx, "a.com", "1", time.Unix(2000, 0)), CodeInvalidNonce)
	if err := c.CheckAndSave(ctx, "b.com", "1", time.Unix(2000, 0)); err != nil {
		t.Fatal("nonces must be scoped by domain:", err)
	}
	wantCode(t, c.CheckAndSave(ctx, "a.com", "2", time.Unix(999, 0)), CodeInvalidNonce)
	c.PurgeOlderThan(time.Unix(3000, 0))
	if c.Len() != 0 {
		t.Fatal("not purged")
	}
	wantCode(t, c.CheckAndSave(ctx, "a.com", "1", time.Unix(2000, 0)), CodeInvalidNonce)

	key, _ := GeneratePrivateKey()
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{Keys: StaticKeys{"vasp1.com": {Signing: key.PublicKey(), Encryption: key.PublicKey()}}, Nonces: &MemoryNonceCache{}, Now: func() time.Time { return now }}
	bob, _ := ParseAddress("$bob@vasp2.com")
	for _, tc := range []struct {
		at   time.Time
		code ErrorCode
	}{
		{now, ""},
		{now.Add(9 * time.Minute), ""},
		{now.Add(11 * time.Minute), CodeInvalidTimestamp},
		{now.Add(-23 * time.Hour), ""},
		{now.Add(-25 * time.Hour), CodeInvalidNonce},
		{time.Unix(1<<62, 0), CodeInvalidTimestamp},
		{time.Unix(-1<<62, 0), CodeInvalidNonce},
	} {
		r, _ := NewLnurlpRequest(key, bob, "vasp1.com", true, Version1, tc.at)
		_, err := v.VerifyLnurlpRequest(ctx, r)
		if tc.code == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.at, err)
			}
		} else {
			wantCode(t, err, tc.code)
		}
	}
	// A bad signature does not burn the nonce.
	r, _ := NewLnurlpRequest(key, bob, "vasp1.com", true, Version1, now)
	good := r.Signature
	r.Signature = good[:len(good)-2] + "00"
	_, err := v.VerifyLnurlpRequest(ctx, r)
	wantCode(t, err, CodeInvalidSignature)
	r.Signature = good
	if _, err := v.VerifyLnurlpRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
}

func TestNewNonceIs64Bit(t *testing.T) {
	seen := map[string]bool{}
	long := 0
	for i := 0; i < 1000; i++ {
		n := NewNonce()
		if seen[n] {
			t.Fatal("duplicate nonce")
		}
		seen[n] = true
		if len(n) > 10 { // > 32-bit values have ≥ 11 digits
			long++
		}
	}
	if long < 990 {
		t.Fatalf("nonces look 32-bit: %d of 1000 longer than 10 digits", long)
	}
}

func TestErrors(t *testing.T) {
	err := error(Errorf(CodeInvalidNonce, "replay"))
	if !errors.Is(err, CodeInvalidNonce) || errors.Is(err, CodeInvalidSignature) {
		t.Fatal("errors.Is")
	}
	wrapped := errors.Join(errors.New("ctx"), err)
	if AsError(wrapped).Code != CodeInvalidNonce {
		t.Fatal("AsError through wrapping")
	}
	internal := AsError(errors.New("db password=secret"))
	if internal.Code != CodeInternalError || strings.Contains(string(internal.Body()), "secret") {
		t.Fatalf("internal error leaks: %s", internal.Body())
	}
	if AsError(nil) != nil {
		t.Fatal("AsError(nil)")
	}
	if CodeInvalidSignature.HTTPStatus() != 401 || ErrorCode("NOPE").HTTPStatus() != 500 || len(ErrorCodes()) != 39 {
		t.Fatal("table")
	}
	if _, ok := ParseErrorBody([]byte(`{"tag":"payRequest"}`)); ok {
		t.Fatal("not an error body")
	}
	if e, ok := ParseErrorBody([]byte(`{"status":"ERROR","reason":"no route"}`)); !ok || e.Code != "" || e.Reason != "no route" {
		t.Fatal("LNURL error", e)
	}
	// A plain LNURL error with HTTP 200 surfaces from the message parsers.
	_, err = ParseLnurlpResponse([]byte(`{"status":"ERROR","reason":"no route"}`))
	wantCode(t, err, CodeLnurlpRequestFailed)
	_, err = ParsePayReqResponse([]byte(`{"status":"ERROR","reason":"x","code":"USER_NOT_FOUND"}`))
	wantCode(t, err, CodeUserNotFound)
}

// Any domain can serve valid keys: the memory cache stays within its
// bound, making room with expired entries first, then the least recently
// used.
func TestMemoryKeyCacheIsBounded(t *testing.T) {
	key, _ := GeneratePrivateKey()
	keys := &PublicKeys{Signing: key.PublicKey(), Encryption: key.PublicKey()}
	now := time.Unix(1_800_000_000, 0)
	c := &MemoryKeyCache{}
	for i := range 2 * defaultMaxKeyCacheEntries {
		c.Put(fmt.Sprintf("d%d.example", i), keys, now.Add(time.Hour))
	}
	if n := c.Len(); n != defaultMaxKeyCacheEntries {
		t.Fatalf("default cache holds %d domains, want %d", n, defaultMaxKeyCacheEntries)
	}

	c = &MemoryKeyCache{MaxEntries: 3}
	c.Put("soon.example", keys, now.Add(10*time.Second))
	c.Put("a.example", keys, now.Add(time.Hour))
	c.Put("b.example", keys, now.Add(time.Hour))
	// soon is the most recently used, then a; b is the least.
	for _, d := range []string{"a.example", "soon.example"} {
		if _, ok := c.Get(d, now); !ok {
			t.Fatalf("%s not cached", d)
		}
	}
	now = now.Add(time.Minute) // soon has expired, unread
	if _, ok := c.Get("a.example", now); !ok {
		t.Fatal("a not cached")
	}
	c.Put("c.example", keys, now.Add(time.Hour)) // room made by dropping soon, not b
	for _, d := range []string{"b.example", "a.example", "c.example"} {
		if _, ok := c.Get(d, now); !ok {
			t.Fatalf("%s not cached", d)
		}
	}
	c.Put("d.example", keys, now.Add(time.Hour)) // nothing expired: b, the least recently used, goes
	if n := c.Len(); n != 3 {
		t.Fatalf("cache holds %d domains, want 3", n)
	}
	for d, want := range map[string]bool{"soon.example": false, "b.example": false, "a.example": true, "c.example": true, "d.example": true} {
		if _, ok := c.Get(d, now); ok != want {
			t.Errorf("%s cached: %v, want %v", d, ok, want)
		}
	}
	// Replacing a cached domain takes no room.
	c.Put("a.example", keys, now.Add(2*time.Hour))
	if n := c.Len(); n != 3 {
		t.Fatalf("cache holds %d domains after a replacement, want 3", n)
	}
}

// A nonce is spent for the domain, however the message spells it: a
// seen lnurlp request (whose vaspDomain is not signed) replayed with
// "vasp1.com." or "vasp1.com:443" is the same VASP's nonce again.
func TestNonceScopeIsTheNormalDomain(t *testing.T) {
	ctx := context.Background()
	key, _ := GeneratePrivateKey()
	pub := &PublicKeys{Signing: key.PublicKey(), Encryption: key.PublicKey()}
	now := time.Unix(1_800_000_000, 0)
	v := &Verifier{Keys: StaticKeys{"vasp1.com": pub, "vasp1.com.": pub, "vasp1.com:443": pub, "VASP1.com": pub},
		Nonces: &MemoryNonceCache{}, Now: func() time.Time { return now }}
	bob, _ := ParseAddress("$bob@vasp2.com")
	r, _ := NewLnurlpRequest(key, bob, "vasp1.com", true, Version1, now)
	if _, err := v.VerifyLnurlpRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"vasp1.com.", "vasp1.com:443", "VASP1.com"} {
		replay := *r
		replay.VaspDomain = spelling
		_, err := v.VerifyLnurlpRequest(ctx, &replay)
		wantCode(t, err, CodeInvalidNonce)
	}
}
