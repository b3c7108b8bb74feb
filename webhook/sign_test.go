package webhook

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, SecretPrefix) || seen[s] {
			t.Fatalf("bad or repeated secret %q", s)
		}
		seen[s] = true
		key, err := ParseSecret(s)
		if err != nil || len(key) != 32 {
			t.Fatalf("ParseSecret(NewSecret()) = %d bytes, %v", len(key), err)
		}
	}
}

func TestSigningKeys(t *testing.T) {
	sk, pk, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sk, SigningKeyPrefix) || !strings.HasPrefix(pk, PublicKeyPrefix) {
		t.Fatalf("prefixes: %q %q", sk[:5], pk[:5])
	}
	if got, err := PublicKey(sk); err != nil || got != pk {
		t.Fatalf("PublicKey = %q, %v; want %q", got, err, pk)
	}
	// The 64-byte seed||public form is accepted, and checked.
	seed, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(vecSigningKey, SigningKeyPrefix))
	pub, _ := ParsePublicKey(vecPublicKey)
	long := SigningKeyPrefix + base64.StdEncoding.EncodeToString(append(append([]byte{}, seed...), pub...))
	if got, err := PublicKey(long); err != nil || got != vecPublicKey {
		t.Fatalf("64-byte key: %q, %v", got, err)
	}
	bad := append(append([]byte{}, seed...), make([]byte, 32)...)
	if _, err := PublicKey(SigningKeyPrefix + base64.StdEncoding.EncodeToString(bad)); err == nil {
		t.Fatal("64-byte key with a wrong public half accepted")
	}
	for _, k := range []string{"", "whsk_", "whsec_" + seed64(seed), "whsk_AAAA", "whsk_%%%%"} {
		if _, err := PublicKey(k); err == nil {
			t.Errorf("PublicKey(%q) accepted", k)
		}
	}
}

func seed64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestSignRejects(t *testing.T) {
	at := time.Unix(1795330805, 0)
	body := []byte(vecTestBody)
	good := Keys{Secrets: []string{vecSecret}}
	for _, c := range []struct {
		name string
		keys Keys
		id   string
		at   time.Time
	}{
		{"no secret", Keys{}, vecTestID, at},
		{"secret without prefix", Keys{Secrets: []string{strings.TrimPrefix(vecSecret, SecretPrefix)}}, vecTestID, at},
		// base64 decoding skips line ends, but X-UMAaas-Signature is keyed
		// with the secret as written: NewUMAaaSVerifier refuses these.
		{"secret with a line end", Keys{Secrets: []string{vecSecret + "\n"}}, vecTestID, at},
		{"secret with a line end inside", Keys{Secrets: []string{vecSecret[:12] + "\r\n" + vecSecret[12:]}}, vecTestID, at},
		{"secret with a space", Keys{Secrets: []string{" " + vecSecret}}, vecTestID, at},
		{"bad signing key", Keys{Secrets: []string{vecSecret}, SigningKeys: []string{vecPublicKey}}, vecTestID, at},
		{"too many keys", Keys{Secrets: []string{vecSecret, vecSecret, vecSecret, vecSecret, vecSecret, vecSecret, vecSecret, vecSecret, vecSecret, vecSecret, vecSecret}}, vecTestID, at},
		{"empty id", good, "", at},
		{"id with a dot", good, "Webhook:a.b", at},
		{"id with a space", good, "Webhook:a b", at},
		{"id with a newline", good, "Webhook:a\r\nX-Evil: 1", at},
		{"id too long", good, "Webhook:" + strings.Repeat("a", 300), at},
		{"zero time", good, vecTestID, time.Time{}},
	} {
		if _, err := Sign(c.keys, c.id, c.at, body); err == nil {
			t.Errorf("%s: signed", c.name)
		}
	}
}

// TestSignVerifyRoundTrip: whatever a Signer produces, the matching
// verifiers accept, with any one of the keys it signed with.
func TestSignVerifyRoundTrip(t *testing.T) {
	s1, _ := NewSecret()
	s2, _ := NewSecret()
	sk, pk, _ := NewSigningKey()
	at := time.Now()
	signer, err := NewSigner(Keys{Secrets: []string{s1, s2}, SigningKeys: []string{sk}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{{}, []byte("{}"), []byte(vecIncomingBody), make([]byte, 100_000)} {
		h, err := signer.Sign(vecTestID, at, body)
		if err != nil {
			t.Fatal(err)
		}
		for i, cfg := range []StandardConfig{{Secrets: []string{s1}}, {Secrets: []string{s2}}, {PublicKeys: []string{pk}}} {
			if err := mustStandard(t, cfg).Verify(h, body); err != nil {
				t.Errorf("config %d, body %d bytes: %v", i, len(body), err)
			}
		}
		for _, s := range []string{s1, s2} {
			u, _ := NewUMAaaSVerifier(s)
			if err := u.Verify(h, body); err != nil {
				t.Errorf("X-UMAaas-Signature, body %d bytes: %v", len(body), err)
			}
		}
	}
}

// A Signer reused for many requests, from many goroutines at once (the
// delivery worker keeps one per endpoint reading), signs each exactly as a
// fresh one does: its pooled HMAC states carry nothing from one request to
// the next, and SignTo replaces what the header held.
func TestSignerReusedConcurrently(t *testing.T) {
	keys := Keys{Secrets: []string{vecSecret, vecOldSecret}, SigningKeys: []string{vecSigningKey}}
	shared, err := NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			defer func() { errs <- err }()
			for i := range 50 {
				id := "Webhook:" + strings.Repeat("a", g+1) + string(rune('a'+i%26))
				at := vecAttempt.Add(time.Duration(i) * time.Second)
				body := []byte(strings.Repeat("{}", i))
				want, err1 := Sign(keys, id, at, body)
				if err1 != nil {
					err = err1
					return
				}
				got := http.Header{"Webhook-Signature": {"stale"}, "Content-Type": {"application/json"}}
				if err = shared.SignTo(got, id, at, body); err != nil {
					return
				}
				for k, v := range want {
					if len(got[k]) != 1 || got[k][0] != v[0] {
						err = fmt.Errorf("%s: %q, want %q", k, got[k], v)
						return
					}
				}
				if got.Get("Content-Type") != "application/json" || len(got) != len(want)+1 {
					err = fmt.Errorf("SignTo left %v", got)
					return
				}
			}
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
