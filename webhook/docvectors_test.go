package webhook

import (
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocVectors reads the published test vectors from docs/webhooks.md
// itself, not from constants, and checks that the code produces and accepts
// exactly what the page says: keys, bodies, every signature, the rotation
// headers, the example request and the verification outcomes.
func TestDocVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatalf("reading docs/webhooks.md (part of the repository): %v", err)
	}
	doc := string(raw)
	start := strings.Index(doc, "## 2. Signature test vectors")
	end := strings.Index(doc, "## 3. ")
	if start < 0 || end < start {
		t.Fatal(`docs/webhooks.md has no "## 2. Signature test vectors" section before "## 3."`)
	}
	section := doc[start:end]

	key := func(label string) string {
		m := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(label) + ` \| ` + "`([^`]+)`").FindStringSubmatch(section)
		if m == nil {
			t.Fatalf("keys table has no %q row", label)
		}
		return m[1]
	}
	secret, oldSecret := key("current secret"), key("previous secret (rotation)")
	signingKey, publicKey := key("ed25519 signing key"), key("ed25519 public key")
	tsText := key("`webhook-timestamp` (both vectors)")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", tsText, err)
	}
	attempt := time.Unix(ts, 0)
	if pub, err := PublicKey(signingKey); err != nil || pub != publicKey {
		t.Errorf("public key of the published signing key = %q, %v; the page says %q", pub, err, publicKey)
	}

	vectors := regexp.MustCompile(`(?m)^### Vector \d+: `).FindAllStringIndex(section, -1)
	if len(vectors) < 2 {
		t.Fatalf("found %d vectors, want at least 2", len(vectors))
	}
	type vector struct{ id, body string }
	var parsed []vector
	for _, loc := range vectors {
		stop := len(section) // the vector runs to the next "###" heading
		if j := strings.Index(section[loc[1]:], "\n### "); j >= 0 {
			stop = loc[1] + j
		}
		v := section[loc[0]:stop]
		title := strings.SplitN(v, "\n", 2)[0]
		t.Run(title, func(t *testing.T) {
			one := func(re string) []string {
				m := regexp.MustCompile(re).FindStringSubmatch(v)
				if m == nil {
					t.Fatalf("no match for %s", re)
				}
				return m
			}
			id := one("`webhook-id`: `([^`]+)`")[1]
			m := one("Body \\((\\d+) bytes[^\n]*\n\n```\n([^\n]*)\n```")
			body := m[2]
			if n, _ := strconv.Atoi(m[1]); n != len(body) {
				t.Errorf("the page says %s bytes, the body has %d", m[1], len(body))
			}
			parsed = append(parsed, vector{id, body})
			if _, err := Parse([]byte(body)); err != nil {
				t.Errorf("body does not parse: %v", err)
			}
			umaaas := one("(?m)^\\| `X-UMAaas-Signature` \\| `([0-9a-f]{64})` \\| `([0-9a-f]{64})` \\|$")
			v1 := one("(?m)^\\| `v1` entry \\| `(v1,[^`]+)` \\| `(v1,[^`]+)` \\|$")
			v1a := one("`(v1a,[A-Za-z0-9+/=]+)`")[1]

			sign := func(k Keys) http.Header {
				h, err := Sign(k, id, attempt, []byte(body))
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			cur, old := sign(Keys{Secrets: []string{secret}}), sign(Keys{Secrets: []string{oldSecret}})
			ed := sign(Keys{Secrets: []string{secret}, SigningKeys: []string{signingKey}})
			for _, c := range []struct{ what, got, want string }{
				{"X-UMAaas-Signature, current secret", cur.Get(HeaderUMAaaSSignature), umaaas[1]},
				{"X-UMAaas-Signature, previous secret", old.Get(HeaderUMAaaSSignature), umaaas[2]},
				{"v1, current secret", cur.Get(HeaderWebhookSignature), v1[1]},
				{"v1, previous secret", old.Get(HeaderWebhookSignature), v1[2]},
				{"v1a", strings.TrimPrefix(ed.Get(HeaderWebhookSignature), v1[1]+" "), v1a},
				{"webhook-id", cur.Get(HeaderWebhookID), id},
				{"webhook-timestamp", cur.Get(HeaderWebhookTimestamp), tsText},
			} {
				if c.got != c.want {
					t.Errorf("%s: code %q, page %q", c.what, c.got, c.want)
				}
			}

			// The step-by-step text, where a vector has one.
			if m := regexp.MustCompile("the 32 bytes `([0-9a-f]{64})` \\(hex\\)").FindStringSubmatch(v); m != nil {
				k, _ := ParseSecret(secret)
				if hex.EncodeToString(k) != m[1] {
					t.Errorf("v1 key: code %x, page %s", k, m[1])
				}
			}
			if m := regexp.MustCompile("(?m)^   `(Webhook:[^`]+)`$").FindStringSubmatch(v); m != nil {
				if want := string(signedContent(id, tsText, []byte(body))); m[1] != want {
					t.Errorf("signed content: page %q, code %q", m[1], want)
				}
			}
		})
	}
	if t.Failed() || len(parsed) == 0 {
		return
	}
	first := parsed[0]

	// Every header line in a code block on the page (the example request of
	// section 1 and the rotation example) is what the signer sends for the
	// first vector, with one secret or during a rotation with an ed25519 key.
	single, err := Sign(Keys{Secrets: []string{secret}}, first.id, attempt, []byte(first.body))
	if err != nil {
		t.Fatal(err)
	}
	rotation, err := Sign(Keys{Secrets: []string{secret, oldSecret}, SigningKeys: []string{signingKey}}, first.id, attempt, []byte(first.body))
	if err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?mi)^(X-UMAaas-Signature|Webhook-Signature|Webhook-Id|Webhook-Timestamp): (.+)$`).FindAllStringSubmatch(doc, -1)
	if len(lines) < 6 {
		t.Fatalf("found %d signature header lines on the page, want the example request's 4 and the rotation's 2", len(lines))
	}
	for _, l := range lines {
		if l[2] != single.Get(l[1]) && l[2] != rotation.Get(l[1]) {
			t.Errorf("page header %s: %s\nis neither %q nor %q", l[1], l[2], single.Get(l[1]), rotation.Get(l[1]))
		}
	}
	if !strings.Contains(doc, "```\n"+first.body+"\n```") {
		t.Error("the example request's body is not the first vector's")
	}

	// The verification outcomes table, with the first vector's headers.
	rows := regexp.MustCompile("(?m)^\\| `(\\d+)` \\| (accepted|rejected: too old|rejected: too new) \\|$").FindAllStringSubmatch(section, -1)
	if len(rows) < 5 {
		t.Fatalf("found %d verification outcome rows, want 5", len(rows))
	}
	for _, r := range rows {
		now, _ := strconv.ParseInt(r[1], 10, 64)
		v := mustStandard(t, StandardConfig{Secrets: []string{secret}, Now: func() time.Time { return time.Unix(now, 0) }})
		want := map[string]error{"accepted": nil, "rejected: too old": ErrTimestampTooOld, "rejected: too new": ErrTimestampTooNew}[r[2]]
		if err := v.Verify(single, []byte(first.body)); !errorIs(err, want) {
			t.Errorf("clock %s: Verify = %v, the page says %s", r[1], err, r[2])
		}
	}
	// The prose cases under the table.
	at := func() time.Time { return attempt }
	cur := mustStandard(t, StandardConfig{Secrets: []string{secret}, Now: at})
	old := mustStandard(t, StandardConfig{Secrets: []string{oldSecret}, Now: at})
	pub := mustStandard(t, StandardConfig{PublicKeys: []string{publicKey}, Now: at})
	with := func(h http.Header, k, v string) http.Header { h = h.Clone(); h.Set(k, v); return h }
	for _, c := range []struct {
		name string
		v    Verifier
		h    http.Header
		body string
		want error
	}{
		{"one byte changed", cur, single, strings.Replace(first.body, "TEST", "TESU", 1), ErrNoMatch},
		{"re-serialised", cur, single, strings.ReplaceAll(first.body, ",", ", "), ErrNoMatch},
		{"timestamp + 1", cur, with(single, HeaderWebhookTimestamp, strconv.FormatInt(ts+1, 10)), first.body, ErrNoMatch},
		{"other vector's id", cur, with(single, HeaderWebhookID, parsed[1].id), first.body, ErrNoMatch},
		{"previous secret, single headers", old, single, first.body, ErrNoMatch},
		{"rotation, current secret", cur, rotation, first.body, nil},
		{"rotation, previous secret", old, rotation, first.body, nil},
		{"rotation, public key", pub, rotation, first.body, nil},
	} {
		if err := c.v.Verify(c.h, []byte(c.body)); !errorIs(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}
