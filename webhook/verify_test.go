package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// signedRequest signs body with keys at attempt time at and returns the headers.
func signedRequest(t testing.TB, keys Keys, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	h, err := Sign(keys, id, at, body)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestStandardVerifierTolerance(t *testing.T) {
	body := []byte(vecTestBody)
	at := time.Unix(1795330805, 0)
	h := signedRequest(t, Keys{Secrets: []string{vecSecret}}, vecTestID, at, body)
	for _, c := range []struct {
		skew time.Duration // receiver clock minus attempt time
		want error
	}{
		{0, nil},
		{5 * time.Minute, nil},
		{-5 * time.Minute, nil},
		{5*time.Minute + time.Second, ErrTimestampTooOld},
		{-5*time.Minute - time.Second, ErrTimestampTooNew},
		{24 * time.Hour, ErrTimestampTooOld},
		{-24 * time.Hour, ErrTimestampTooNew},
	} {
		v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: func() time.Time { return at.Add(c.skew) }})
		if err := v.Verify(h, body); !errorIs(err, c.want) {
			t.Errorf("skew %v: %v, want %v", c.skew, err, c.want)
		}
	}
	// A custom tolerance.
	v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Tolerance: time.Minute, Now: func() time.Time { return at.Add(2 * time.Minute) }})
	if err := v.Verify(h, body); !errorIs(err, ErrTimestampTooOld) {
		t.Errorf("1-minute tolerance, 2 minutes late: %v", err)
	}
	// A replayed request with a fresh timestamp header no longer matches.
	h2 := h.Clone()
	h2.Set(HeaderWebhookTimestamp, "1795330806")
	v = mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: func() time.Time { return at }})
	if err := v.Verify(h2, body); !errorIs(err, ErrNoMatch) {
		t.Errorf("changed timestamp: %v, want ErrNoMatch", err)
	}
	h2 = h.Clone()
	h2.Set(HeaderWebhookID, "Webhook:other")
	if err := v.Verify(h2, body); !errorIs(err, ErrNoMatch) {
		t.Errorf("changed id: %v, want ErrNoMatch", err)
	}
}

func TestStandardVerifierRejects(t *testing.T) {
	body := []byte(vecTestBody)
	at := time.Unix(1795330805, 0)
	now := func() time.Time { return at }
	v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, PublicKeys: []string{vecPublicKey}, Now: now})
	good := signedRequest(t, Keys{Secrets: []string{vecSecret}, SigningKeys: []string{vecSigningKey}}, vecTestID, at, body)
	v1 := strings.Fields(good.Get(HeaderWebhookSignature))[0]
	v1a := strings.Fields(good.Get(HeaderWebhookSignature))[1]
	with := func(k, val string) http.Header {
		h := good.Clone()
		if val == "" {
			h.Del(k)
		} else {
			h.Set(k, val)
		}
		return h
	}
	otherSecret, _ := NewSecret()
	otherSig := strings.Fields(signedRequest(t, Keys{Secrets: []string{otherSecret}}, vecTestID, at, body).Get(HeaderWebhookSignature))[0]
	for _, c := range []struct {
		name string
		h    http.Header
		want error
	}{
		{"good", good, nil},
		{"only v1", with(HeaderWebhookSignature, v1), nil},
		{"only v1a", with(HeaderWebhookSignature, v1a), nil},
		{"extra spaces", with(HeaderWebhookSignature, "  "+v1+"   "), nil},
		{"missing id", with(HeaderWebhookID, ""), ErrMissingHeader},
		{"missing timestamp", with(HeaderWebhookTimestamp, ""), ErrMissingHeader},
		{"missing signature", with(HeaderWebhookSignature, ""), ErrMissingHeader},
		{"id with a dot", with(HeaderWebhookID, "Webhook:a.b"), ErrMalformedHeader},
		{"negative timestamp", with(HeaderWebhookTimestamp, "-1795330805"), ErrMalformedHeader},
		{"float timestamp", with(HeaderWebhookTimestamp, "1795330805.0"), ErrMalformedHeader},
		{"hex timestamp", with(HeaderWebhookTimestamp, "0x6b02b2f5"), ErrMalformedHeader},
		{"huge timestamp", with(HeaderWebhookTimestamp, "99999999999999999999"), ErrMalformedHeader},
		{"partial v1", with(HeaderWebhookSignature, "v1,"), ErrNoMatch},
		{"no comma", with(HeaderWebhookSignature, strings.Replace(v1, ",", "", 1)), ErrNoMatch},
		{"v1 signature labelled v2", with(HeaderWebhookSignature, strings.Replace(v1, "v1,", "v2,", 1)), ErrNoMatch},
		{"v1a signature labelled v1", with(HeaderWebhookSignature, strings.Replace(v1a, "v1a,", "v1,", 1)), ErrNoMatch},
		{"other secret", with(HeaderWebhookSignature, otherSig), ErrNoMatch},
		{"not base64", with(HeaderWebhookSignature, "v1,!!!!"), ErrNoMatch},
		{"truncated v1", with(HeaderWebhookSignature, v1[:len(v1)-4]), ErrNoMatch},
	} {
		if err := v.Verify(c.h, body); !errorIs(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A valid signature hidden after maxSignatures junk entries is not
	// looked at: the bound is what keeps hostile headers cheap.
	junk := strings.Repeat("v1a,"+base64.StdEncoding.EncodeToString(make([]byte, 64))+" ", maxSignatures)
	if err := v.Verify(with(HeaderWebhookSignature, junk+v1), body); !errorIs(err, ErrNoMatch) {
		t.Errorf("signature after %d junk entries: %v, want ErrNoMatch", maxSignatures, err)
	}
	if err := v.Verify(with(HeaderWebhookSignature, junk[:len(junk)/2]+v1), body); err != nil {
		t.Errorf("signature after %d junk entries: %v", maxSignatures/2, err)
	}
	// A public key alone does not accept HMAC signatures, and vice versa.
	pubOnly := mustStandard(t, StandardConfig{PublicKeys: []string{vecPublicKey}, Now: now})
	if err := pubOnly.Verify(with(HeaderWebhookSignature, v1), body); !errorIs(err, ErrNoMatch) {
		t.Errorf("public-key verifier accepted v1: %v", err)
	}
	secOnly := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: now})
	if err := secOnly.Verify(with(HeaderWebhookSignature, v1a), body); !errorIs(err, ErrNoMatch) {
		t.Errorf("secret verifier accepted v1a: %v", err)
	}
}

func TestNewStandardVerifierConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  StandardConfig
	}{
		{"nothing", StandardConfig{}},
		{"empty secret", StandardConfig{Secrets: []string{""}}},
		{"prefix only", StandardConfig{Secrets: []string{"whsec_"}}},
		{"short secret", StandardConfig{Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 8))}}},
		{"not base64", StandardConfig{Secrets: []string{"whsec_not base64!"}}},
		{"bad public key", StandardConfig{PublicKeys: []string{"whpk_AAAA"}}},
		{"negative tolerance", StandardConfig{Secrets: []string{vecSecret}, Tolerance: -time.Second}},
	} {
		if _, err := NewStandardVerifier(c.cfg); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	// Errors never echo the secret.
	_, err := NewStandardVerifier(StandardConfig{Secrets: []string{"whsec_sup3r-s3cret-value"}})
	if err == nil || strings.Contains(err.Error(), "sup3r") {
		t.Errorf("error %v leaks the secret", err)
	}
}

func TestBodyHMACVerifier(t *testing.T) {
	if _, err := NewUMAaaSVerifier(); err == nil {
		t.Error("no secrets accepted")
	}
	if _, err := NewLightsparkVerifier("short"); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := NewBodyHMACVerifier("", vecSecret); err == nil {
		t.Error("empty header accepted")
	}
	u, err := NewUMAaaSVerifier(vecOldSecret, vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(vecTestBody)
	for _, c := range []struct {
		name, value string
		want        error
	}{
		{"current", ourVectors[0].umaaas, nil},
		{"old", ourVectors[0].umaaasOld, nil},
		{"both", ourVectors[0].umaaas + " " + ourVectors[0].umaaasOld, nil},
		{"upper case", strings.ToUpper(ourVectors[0].umaaas), nil},
		{"other body's", ourVectors[1].umaaas, ErrNoMatch},
		{"garbage", "not-a-signature", ErrMalformedHeader},
	} {
		h := http.Header{}
		h.Set("x-umaaas-signature", c.value)
		if err := u.Verify(h, body); !errorIs(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := u.Verify(http.Header{}, body); !errorIs(err, ErrMissingHeader) {
		t.Errorf("no header: %v", err)
	}
}

// A secret read from a file or an env file often keeps its line end. The
// body-HMAC schemes key with the secret's bytes as they are, so "whsec_…\n"
// would verify nothing: every webhook a 401. Like a bad whsec_ secret in
// NewStandardVerifier, it must fail at start-up instead.
func TestBodyHMACVerifierRefusesSurroundingSpace(t *testing.T) {
	for _, s := range []string{vecSecret + "\n", vecSecret + "\r\n", vecSecret + " ", " " + vecSecret, "\t" + vecSecret} {
		if _, err := NewUMAaaSVerifier(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("secret %q: %v, want ErrInvalidKey", s, err)
		} else if strings.Contains(err.Error(), vecSecret[6:]) {
			t.Errorf("error %v leaks the secret", err)
		}
		if _, err := NewLightsparkVerifier(vecSecret, s); err == nil {
			t.Errorf("second secret %q accepted", s)
		}
	}
	// Inner spaces are the secret's own business.
	if _, err := NewCoinbaseCommerceVerifier("a secret with spaces inside"); err != nil {
		t.Error(err)
	}
}

// Header lines are one list: an empty (or blank) line before the one with
// the signature does not hide it, and only blank lines are a missing header.
func TestBodyHMACVerifierEmptyFirstLine(t *testing.T) {
	u, err := NewUMAaaSVerifier(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(vecTestBody)
	for _, c := range []struct {
		name  string
		lines []string
		want  error
	}{
		{"empty, then valid", []string{"", ourVectors[0].umaaas}, nil},
		{"blank, then valid", []string{"  ", ourVectors[0].umaaas}, nil},
		{"garbage, then valid", []string{"zz", ourVectors[0].umaaas}, nil},
		{"empty, then another body's", []string{"", ourVectors[1].umaaas}, ErrNoMatch},
		{"only empty lines", []string{"", " "}, ErrMissingHeader},
	} {
		h := http.Header{}
		for _, l := range c.lines {
			h.Add("x-umaaas-signature", l)
		}
		if err := u.Verify(h, body); !errorIs(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestP256Verifier(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	v, err := NewP256Verifier(HeaderUMAaaSSignature, pemKey)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(vecIncomingBody)
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b := base64.StdEncoding.EncodeToString(sig)
	for _, c := range []struct {
		name, value string
		body        []byte
		want        error
	}{
		{"json", `{"v": "1", "s": "` + b + `"}`, body, nil},
		{"bare base64", b, body, nil},
		{"tampered body", b, append([]byte(nil), append(body, ' ')...), ErrNoMatch},
		{"version 2", `{"v":"2","s":"` + b + `"}`, body, ErrMalformedHeader},
		{"not base64", "%%%", body, ErrMalformedHeader},
		{"broken json", `{"v":"1","s":`, body, ErrMalformedHeader},
		{"too long", strings.Repeat("A", 1000), body, ErrMalformedHeader},
	} {
		h := http.Header{}
		h.Set(HeaderUMAaaSSignature, c.value)
		if err := v.Verify(h, c.body); !errorIs(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Header lines are one list, as for the body-HMAC verifier: an empty
	// or malformed first line does not hide a valid signature on a later
	// one, and only blank lines are a missing header.
	other := base64.StdEncoding.EncodeToString(append([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01}, 0x01))
	for _, c := range []struct {
		name  string
		lines []string
		want  error
	}{
		{"empty, then valid", []string{"", b}, nil},
		{"blank, then valid json", []string{"  ", `{"v":"1","s":"` + b + `"}`}, nil},
		{"garbage, then valid", []string{"%%%", b}, nil},
		{"not matching, then valid", []string{other, b}, nil},
		{"empty, then not matching", []string{"", other}, ErrNoMatch},
		{"empty, then garbage", []string{"", "%%%"}, ErrMalformedHeader},
		{"only blank lines", []string{"", " "}, ErrMissingHeader},
	} {
		h := http.Header{}
		for _, l := range c.lines {
			h.Add(HeaderUMAaaSSignature, l)
		}
		if err := v.Verify(h, body); !errorIs(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := NewP256Verifier(HeaderGridSignature, []byte("not pem")); err == nil {
		t.Error("garbage key accepted")
	}
	edPub, _ := ParsePublicKey(vecPublicKey)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	if _, err := NewP256Verifier(HeaderGridSignature, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edDER})); err == nil {
		t.Error("ed25519 key accepted as P-256")
	}
}

func TestStandardVerifierSignatureLines(t *testing.T) {
	body := []byte(vecTestBody)
	at := time.Unix(1795330805, 0)
	h := signedRequest(t, Keys{Secrets: []string{vecOldSecret, vecSecret}}, vecTestID, at, body)
	entries := strings.Fields(h.Get(HeaderWebhookSignature))
	if len(entries) != 2 {
		t.Fatalf("rotation header has %d entries", len(entries))
	}
	// The matching entry on a second header line still counts.
	h.Del(HeaderWebhookSignature)
	h.Add(HeaderWebhookSignature, entries[0])
	h.Add(HeaderWebhookSignature, entries[1])
	v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: func() time.Time { return at }})
	if err := v.Verify(h, body); err != nil {
		t.Fatalf("signature on the second header line: %v", err)
	}
	h.Set(HeaderWebhookSignature, entries[0])
	if err := v.Verify(h, body); !errorIs(err, ErrNoMatch) {
		t.Fatalf("only the other secret's entry: %v, want ErrNoMatch", err)
	}
}

// Svix, a Standard Webhooks sender, names the headers svix-id,
// svix-timestamp and svix-signature unless an application opts into the
// webhook-* names; the reference libraries accept either set.
func TestStandardVerifierSvixHeaders(t *testing.T) {
	body := []byte(vecTestBody)
	at := time.Unix(1795330805, 0)
	v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: func() time.Time { return at }})
	std := signedRequest(t, Keys{Secrets: []string{vecSecret}}, vecTestID, at, body)
	svix := http.Header{}
	svix.Set("svix-id", std.Get(HeaderWebhookID))
	svix.Set("svix-timestamp", std.Get(HeaderWebhookTimestamp))
	svix.Set("svix-signature", std.Get(HeaderWebhookSignature))
	if err := v.Verify(svix, body); err != nil {
		t.Fatalf("svix-* headers: %v", err)
	}
	forged := svix.Clone()
	forged.Set("svix-signature", "v1,"+b64(make([]byte, 32)))
	if err := v.Verify(forged, body); !errorIs(err, ErrNoMatch) {
		t.Fatalf("forged svix-signature: %v, want ErrNoMatch", err)
	}
	// With both sets, the webhook-* set is the one checked: a signature
	// is never taken from one set and the id from the other.
	both := std.Clone()
	both.Set("svix-signature", "v1,"+b64(make([]byte, 32)))
	if err := v.Verify(both, body); err != nil {
		t.Fatalf("webhook-* with a stray svix-signature: %v", err)
	}
	mixed := forged.Clone()
	mixed.Set(HeaderWebhookID, std.Get(HeaderWebhookID))
	if err := v.Verify(mixed, body); err == nil {
		t.Fatal("webhook-id with svix-timestamp and svix-signature verified; the sets must not mix")
	}
}
