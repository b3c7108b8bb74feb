package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NPMModulesEnv names the node_modules directory holding the npm
// standardwebhooks package (pinned by testdata/standardwebhooks/
// package-lock.json); scripts/ci/standardwebhooks.sh installs it and sets
// this variable. Without it TestStandardWebhooksNPM skips.
const npmModulesEnv = "VASPD_STANDARDWEBHOOKS_MODULES"

type npmVerify struct {
	ID         string   `json:"id"`
	Timestamp  string   `json:"timestamp"`
	Body       string   `json:"body"`
	Signature  string   `json:"signature"`
	UMAaaS     string   `json:"umaaas"`
	Secrets    []string `json:"secrets"`
	PublicKeys []string `json:"publicKeys,omitempty"`

	// Expectations, not sent: whether each secret / key must verify.
	want, wantV1a []bool
	name          string
}

type npmSign struct {
	Secret string `json:"secret"`
	ID     string `json:"id"`
	Body   string `json:"body"`
}

type npmOutcome struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

type npmResult struct {
	Library  string `json:"library"`
	Verified []struct {
		Standard []npmOutcome `json:"standard"`
		UMAaaS   []npmOutcome `json:"umaaas"`
		V1a      []npmOutcome `json:"v1a"`
	} `json:"verified"`
	Signed []struct {
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Body      string `json:"body"`
		Signature string `json:"signature"`
	} `json:"signed"`
}

// TestStandardWebhooksNPM cross-checks our signatures with the npm
// standardwebhooks library (and Node's crypto for X-UMAaas-Signature and
// v1a): Node verifies what Go signed, Go verifies what Node signed, and both
// sides compute the same v1 signature for the same input.
func TestStandardWebhooksNPM(t *testing.T) {
	modules := os.Getenv(npmModulesEnv)
	if modules == "" {
		t.Skip(npmModulesEnv + " not set: run scripts/ci/standardwebhooks.sh for the npm cross-check")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("%s is set but node is not on PATH: %v", npmModulesEnv, err)
	}
	fresh, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	signingKey, publicKey, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSecret()
	now := time.Now()
	bodies := []string{
		vecTestBody,
		vecIncomingBody,
		// Non-ASCII text and JSON escapes: the signature is over UTF-8 bytes.
		`{"transaction":{"id":"Transaction:1","status":"COMPLETED","description":"Zoë → 東京 €5 \"quoted\" \u2028"},"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a03","type":"OUTGOING_PAYMENT"}`,
		"{\n  \"pretty\": true\n}",
	}

	var verify []*npmVerify
	add := func(name string, keys Keys, at time.Time, body string, mutate func(m *npmVerify), secrets []string, want []bool, pubs []string, wantV1a []bool) {
		id := fmt.Sprintf("Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e%04x", len(verify))
		h, err := Sign(keys, id, at, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		m := &npmVerify{
			ID: h.Get(HeaderWebhookID), Timestamp: h.Get(HeaderWebhookTimestamp), Body: body,
			Signature: h.Get(HeaderWebhookSignature), UMAaaS: h.Get(HeaderUMAaaSSignature),
			Secrets: secrets, PublicKeys: pubs, want: want, wantV1a: wantV1a, name: name,
		}
		if mutate != nil {
			mutate(m)
		}
		verify = append(verify, m)
	}
	for i, body := range bodies {
		name := fmt.Sprintf("body %d", i)
		add(name, Keys{Secrets: []string{fresh}}, now, body, nil,
			[]string{fresh, vecSecret}, []bool{true, false}, nil, nil)
		// A rotation with an ed25519 key: two v1 entries and a v1a entry,
		// which the npm library must skip.
		add(name+" rotation", Keys{Secrets: []string{vecSecret, fresh}, SigningKeys: []string{signingKey}}, now, body, nil,
			[]string{fresh, vecSecret, other}, []bool{true, true, false}, []string{publicKey, vecPublicKey}, []bool{true, false})
		add(name+" tampered", Keys{Secrets: []string{fresh}, SigningKeys: []string{signingKey}}, now, body,
			func(m *npmVerify) { m.Body += " " },
			[]string{fresh}, []bool{false}, []string{publicKey}, []bool{false})
	}
	// The published vectors' keys, signed now (the vectors' own timestamp
	// is outside the library's 5-minute window).
	add("vector keys", Keys{Secrets: []string{vecSecret}, SigningKeys: []string{vecSigningKey}}, now, vecIncomingBody, nil,
		[]string{vecSecret, vecOldSecret}, []bool{true, false}, []string{vecPublicKey}, []bool{true})
	// Outside the tolerance both ways: the library must refuse what ours refuses.
	add("six minutes old", Keys{Secrets: []string{fresh}}, now.Add(-6*time.Minute), vecTestBody, nil,
		[]string{fresh}, []bool{false}, nil, nil)
	add("six minutes ahead", Keys{Secrets: []string{fresh}}, now.Add(6*time.Minute), vecTestBody, nil,
		[]string{fresh}, []bool{false}, nil, nil)

	var sign []npmSign
	for i, body := range bodies {
		sign = append(sign, npmSign{Secret: fresh, ID: fmt.Sprintf("Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1f%04x", i), Body: body})
	}

	req, err := json.Marshal(map[string]any{"verify": verify, "sign": sign})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "standardwebhooks", "crosscheck.cjs"), modules)
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node crosscheck: %v\n%s", err, stderr.String())
	}
	var res npmResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	t.Logf("npm standardwebhooks %s, node %s", res.Library, node)
	if len(res.Verified) != len(verify) || len(res.Signed) != len(sign) {
		t.Fatalf("node answered %d verifications and %d signatures, want %d and %d", len(res.Verified), len(res.Signed), len(verify), len(sign))
	}

	// Node verifies what Go signed.
	for i, m := range verify {
		got := res.Verified[i]
		if len(got.Standard) != len(m.Secrets) || len(got.UMAaaS) != len(m.Secrets) || len(got.V1a) != len(m.PublicKeys) {
			t.Fatalf("%s: node answered %d/%d/%d outcomes", m.name, len(got.Standard), len(got.UMAaaS), len(got.V1a))
		}
		for j := range m.Secrets {
			if got.Standard[j].OK != m.want[j] {
				t.Errorf("%s, secret %d: standardwebhooks verify = %v (%s), want %v", m.name, j, got.Standard[j].OK, got.Standard[j].Error, m.want[j])
			}
			// X-UMAaas-Signature signs no timestamp: it verifies whenever
			// the secret signed, whatever the attempt time.
			wantU := m.want[j] || (strings.Contains(m.name, "minutes") && m.Secrets[j] == fresh)
			if got.UMAaaS[j].OK != wantU {
				t.Errorf("%s, secret %d: node X-UMAaas-Signature = %v (%s), want %v", m.name, j, got.UMAaaS[j].OK, got.UMAaaS[j].Error, wantU)
			}
		}
		for j := range m.PublicKeys {
			if got.V1a[j].OK != m.wantV1a[j] {
				t.Errorf("%s, key %d: node v1a = %v (%s), want %v", m.name, j, got.V1a[j].OK, got.V1a[j].Error, m.wantV1a[j])
			}
		}
	}

	// Go verifies what Node signed, and computes the same signature.
	ver := mustStandard(t, StandardConfig{Secrets: []string{fresh}})
	wrong := mustStandard(t, StandardConfig{Secrets: []string{other}})
	key, _ := ParseSecret(fresh)
	for i, s := range res.Signed {
		if s.Body != sign[i].Body || s.ID != sign[i].ID {
			t.Fatalf("node signed %q / %q, want %q / %q", s.ID, s.Body, sign[i].ID, sign[i].Body)
		}
		h := http.Header{}
		h.Set(HeaderWebhookID, s.ID)
		h.Set(HeaderWebhookTimestamp, s.Timestamp)
		h.Set(HeaderWebhookSignature, s.Signature)
		if err := ver.Verify(h, []byte(s.Body)); err != nil {
			t.Errorf("message %d: Go rejects the npm signature %s: %v", i, s.Signature, err)
		}
		if err := wrong.Verify(h, []byte(s.Body)); !errorIs(err, ErrNoMatch) {
			t.Errorf("message %d: another secret: %v, want ErrNoMatch", i, err)
		}
		if err := ver.Verify(h, []byte(s.Body+"\n")); !errorIs(err, ErrNoMatch) {
			t.Errorf("message %d: tampered body: %v, want ErrNoMatch", i, err)
		}
		if ours := "v1," + b64(standardHMAC(key, s.ID, s.Timestamp, []byte(s.Body))); ours != s.Signature {
			t.Errorf("message %d: npm signed %s, Go signs %s", i, s.Signature, ours)
		}
	}
}
