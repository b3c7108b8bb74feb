package webhook

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fuzz targets below hold the receiver toolkit to what a platform
// relies on with hostile input: no panic, no signature accepted that the
// secret did not make, errors that are the documented sentinels and carry
// no key material, and only the documented statuses from the Handler.

// verifyErrors are the reasons a Verify may give.
var verifyErrors = []error{ErrMissingHeader, ErrMalformedHeader, ErrNoMatch, ErrTimestampTooOld, ErrTimestampTooNew}

func wantVerifyError(t *testing.T, err error) {
	t.Helper()
	for _, e := range verifyErrors {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("Verify: %v is none of the documented errors", err)
}

// noSecret fails if msg quotes any of the secrets.
func noSecret(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Fatalf("error %q quotes the secret %q", msg, s)
		}
	}
}

// FuzzStandardVerify: a Standard Webhooks request verifies only if an entry
// of its webhook-signature (among the first maxSignatures) is the HMAC of
// id "." timestamp "." body under a trusted secret, or an ed25519
// signature of it under a trusted key: what a signer holding the key
// produces for exactly these bytes, computed here with the standard library.
func FuzzStandardVerify(f *testing.F) {
	for _, v := range ourVectors {
		f.Add(v.id, vecTimestamp, v.v1+" "+v.v1a, "", []byte(v.body))
		f.Add(v.id, vecTimestamp, v.v1Old, v.v1, []byte(v.body))
		f.Add(v.id, "0"+vecTimestamp, v.v1, "", []byte(v.body))
		f.Add(v.id, vecTimestamp, "v2,abc  v1a,"+strings.TrimPrefix(v.v1a, "v1a,"), "", []byte(v.body))
	}
	f.Add("", "", "", "", []byte(nil))
	f.Add("Webhook:x", "1795330805", "v1,", "v1a,", []byte("{}"))
	f.Add("Webhook:x", "99999999999999999999", "v1,"+strings.Repeat("A", 44), "", []byte("{}"))
	key, err := ParseSecret(vecSecret)
	if err != nil {
		f.Fatal(err)
	}
	oldKey, _ := ParseSecret(vecOldSecret)
	pub, err := ParsePublicKey(vecPublicKey)
	if err != nil {
		f.Fatal(err)
	}
	v := mustStandard(f, StandardConfig{Secrets: []string{vecSecret, vecOldSecret}, PublicKeys: []string{vecPublicKey},
		Now: func() time.Time { return vecAttempt }})
	f.Fuzz(func(t *testing.T, id, ts, sig1, sig2 string, body []byte) {
		h := http.Header{}
		h.Set(HeaderWebhookID, id)
		h.Set(HeaderWebhookTimestamp, ts)
		h.Add(HeaderWebhookSignature, sig1)
		if sig2 != "" {
			h.Add(HeaderWebhookSignature, sig2)
		}
		err := v.Verify(h, body)
		if err != nil {
			wantVerifyError(t, err)
			noSecret(t, err.Error(), vecSecret, strings.TrimPrefix(vecSecret, SecretPrefix), vecOldSecret)
			return
		}
		content := []byte(h.Get(HeaderWebhookID) + "." + h.Get(HeaderWebhookTimestamp) + "." + string(body))
		var macs [][]byte
		for _, k := range [][]byte{key, oldKey} {
			m := hmac.New(sha256.New, k)
			m.Write(content)
			macs = append(macs, m.Sum(nil))
		}
		entries := strings.Fields(strings.Join(h.Values(HeaderWebhookSignature), " "))
		for _, e := range entries[:min(len(entries), maxSignatures)] {
			version, s, _ := strings.Cut(e, ",")
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				continue
			}
			if version == "v1" && (bytes.Equal(b, macs[0]) || bytes.Equal(b, macs[1])) {
				return
			}
			if version == "v1a" && ed25519.Verify(pub, content, b) {
				return
			}
		}
		t.Fatalf("accepted id %q, timestamp %q, signatures %q over %q: no entry is the signer's", id, ts, entries, body)
	})
}

// FuzzBodyHMACVerify: X-UMAaas-Signature, lightspark-signature and
// X-CC-Webhook-Signature verify only if one of the header's hex values is
// HMAC-SHA256 of the body under the secret as issued.
func FuzzBodyHMACVerify(f *testing.F) {
	for _, v := range ourVectors {
		f.Add(uint8(0), v.umaaas, "", []byte(v.body))
		f.Add(uint8(1), v.umaaasOld+" "+v.umaaas, "", []byte(v.body))
		f.Add(uint8(2), "", strings.ToUpper(v.umaaas), []byte(v.body))
		f.Add(uint8(0), "zz"+v.umaaas[2:], "  ", []byte(v.body))
	}
	f.Add(uint8(1), "", "", []byte(nil))
	const other = "ls_whsecret_0123456789abcdef0123456789abc" // Lightspark-shaped
	secrets := []string{vecSecret, other}
	var vs []*BodyHMACVerifier
	for _, mk := range []func(...string) (*BodyHMACVerifier, error){NewUMAaaSVerifier, NewLightsparkVerifier, NewCoinbaseCommerceVerifier} {
		v, err := mk(secrets...)
		if err != nil {
			f.Fatal(err)
		}
		vs = append(vs, v)
	}
	f.Fuzz(func(t *testing.T, which uint8, line1, line2 string, body []byte) {
		v := vs[int(which)%len(vs)]
		h := http.Header{}
		h.Add(v.header, line1)
		if line2 != "" {
			h.Add(v.header, line2)
		}
		err := v.Verify(h, body)
		if err != nil {
			wantVerifyError(t, err)
			noSecret(t, err.Error(), secrets...)
			return
		}
		for _, s := range secrets {
			m := hmac.New(sha256.New, []byte(s))
			m.Write(body)
			want := m.Sum(nil)
			for _, e := range strings.Fields(line1 + " " + line2) {
				if b, err := hex.DecodeString(e); err == nil && hmac.Equal(b, want) {
					return
				}
			}
		}
		t.Fatalf("%s accepted %q, %q over %q: no value is the body's HMAC", v.header, line1, line2, body)
	})
}

// FuzzP256Verify: any X-Grid-Signature value (JSON envelope or bare base64)
// with any body: no panic, a documented error, and nothing verifies that
// the trusted key did not sign (the fuzzer holds no private key, so
// nothing but the seed's own signature may).
func FuzzP256Verify(f *testing.F) {
	pemKey, sigB64, body := p256Fixture(f)
	f.Add(`{"v":"1","s":"`+sigB64+`"}`, "", body)
	f.Add(sigB64, `{"v":"2","s":"`+sigB64+`"}`, body)
	f.Add(`{"v":"1","s":""}`, "not base64", []byte("{}"))
	f.Add(`{"v":1}`, strings.Repeat("A", 600), []byte(nil))
	v, err := NewP256Verifier(HeaderGridSignature, pemKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line1, line2 string, b []byte) {
		h := http.Header{}
		h.Add(HeaderGridSignature, line1)
		if line2 != "" {
			h.Add(HeaderGridSignature, line2)
		}
		err := v.Verify(h, b)
		if err != nil {
			wantVerifyError(t, err)
			return
		}
		if !bytes.Equal(b, body) {
			t.Fatalf("accepted %q, %q over %q, which the key never signed", line1, line2, b)
		}
	})
}

// p256Fixture is a P-256 public key (PEM), a base64 signature of body under
// its private key, and body, made once and kept in testdata so that the
// fuzz target's seeds are the same on every run.
func p256Fixture(f *testing.F) (pemKey []byte, sig string, body []byte) {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "p256-fixture.json"))
	if err != nil {
		f.Fatal(err)
	}
	var fx struct {
		PublicKey string `json:"publicKey"`
		Signature string `json:"signature"`
		Body      string `json:"body"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		f.Fatal(err)
	}
	return []byte(fx.PublicKey), fx.Signature, []byte(fx.Body)
}

// FuzzKeys: secrets and keys of any shape ("whsec_" with bad base64, too
// short, too long, white space) are refused with ErrInvalidKey and an
// error that does not quote them, or work: what a Signer made from a
// secret signs, every verifier built from the same secret accepts.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{vecSecret, vecOldSecret, vecSigningKey, vecPublicKey,
		"whsec_", "whsec_!!!!", "whsec_" + strings.TrimSuffix(strings.TrimPrefix(vecSecret, SecretPrefix), "="),
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 15)), "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 200)),
		vecSecret + "\n", " " + vecSecret, "whsec_wIoKh6qF\nTFFdpP4PjwU6ZYC2vxhYqb8JyBM2mBxIApk=",
		"whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 64)), "whpk_AAAA", "0123456789abcdef",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		f.Add(s)
	}
	body := []byte(vecTestBody)
	f.Fuzz(func(t *testing.T, s string) {
		// Only material long enough to be a key is looked for in errors: a
		// one-character "secret" may well be in any sentence.
		var material []string
		if len(s) >= 8 {
			material = append(material, s)
			if rest := strings.TrimPrefix(s, SecretPrefix); len(rest) >= 8 {
				material = append(material, rest)
			}
		}
		check := func(what string, err error) bool {
			t.Helper()
			if err == nil {
				return true
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("%s: %v is not ErrInvalidKey", what, err)
			}
			noSecret(t, err.Error(), material...)
			return false
		}
		_, err := ParseSecret(s)
		check("ParseSecret", err)
		_, err = ParsePublicKey(s)
		check("ParsePublicKey", err)
		_, err = PublicKey(s)
		check("PublicKey", err)
		_, err = NewP256Verifier(HeaderGridSignature, []byte(s))
		check("NewP256Verifier", err)
		std, err := NewStandardVerifier(StandardConfig{Secrets: []string{s}, Now: func() time.Time { return vecAttempt }})
		stdOK := check("NewStandardVerifier", err)
		umaaas, err := NewUMAaaSVerifier(s)
		umaaasOK := check("NewUMAaaSVerifier", err)
		signer, err := NewSigner(Keys{Secrets: []string{s}})
		if !check("NewSigner", err) {
			return
		}
		h, err := signer.Sign(vecTestID, vecAttempt, body)
		if err != nil {
			t.Fatalf("a signer made from %q cannot sign: %v", s, err)
		}
		if !stdOK {
			t.Fatalf("NewSigner takes %q, NewStandardVerifier does not", s)
		}
		if err := std.Verify(h, body); err != nil {
			t.Fatalf("Standard Webhooks signature made with %q does not verify with it: %v", s, err)
		}
		if umaaasOK {
			if err := umaaas.Verify(h, body); err != nil {
				t.Fatalf("X-UMAaas-Signature made with %q does not verify with it: %v", s, err)
			}
		}
	})
}

// FuzzParse: any body decodes to a typed event, an *UnknownWebhook
// holding the whole body (an unknown type, as documented), or
// ErrInvalidPayload; a typed event is one Marshal sends again, and that
// parses back to the same type and envelope.
func FuzzParse(f *testing.F) {
	for _, v := range ourVectors {
		f.Add([]byte(v.body))
	}
	for _, b := range umaaasExampleBodies(f) {
		f.Add(b)
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"type":"TEST"}`, `{"type":"FUTURE_THING","webhookId":"Webhook:x","timestamp":"2026-01-01T00:00:00Z","x":1e999}`,
		`{"type":"TEST","webhookId":"Webhook:x","timestamp":"2026-01-01T00:00:00Z"}]`,
		`{"type":"UMA_REQUEST","webhookId":"Webhook:x","timestamp":"2026-01-01T00:00:00Z","umaRequest":{"amount":-1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("Parse: %v is not ErrInvalidPayload", err)
			}
			return
		}
		env := ev.Envelope()
		if env.Type == "" || checkMessageID(env.WebhookID) != nil || !strings.HasPrefix(env.WebhookID, WebhookIDPrefix) || env.Timestamp.IsZero() {
			t.Fatalf("accepted envelope %+v", env)
		}
		if u, ok := ev.(*UnknownWebhook); ok {
			if !bytes.Equal(u.Raw, body) {
				t.Fatalf("unknown webhook's Raw %q, body %q", u.Raw, body)
			}
			return
		}
		out, err := Marshal(ev)
		if err != nil {
			t.Fatalf("parsed %T from %q cannot be sent again: %v", ev, body, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("%q parses, its re-encoding %q does not: %v", body, out, err)
		}
		if fmt.Sprintf("%T", again) != fmt.Sprintf("%T", ev) || again.Envelope().WebhookID != env.WebhookID ||
			again.Envelope().Type != env.Type || !again.Envelope().Timestamp.Equal(env.Timestamp) {
			t.Fatalf("%q re-encoded as %q parses to %+v", body, out, again.Envelope())
		}
	})
}

// umaaasExampleBodies are the UMAaaS specification's webhook examples.
func umaaasExampleBodies(f *testing.F) [][]byte {
	raw, err := os.ReadFile(filepath.Join("testdata", "umaaas-webhook-examples.json"))
	if err != nil {
		f.Fatal(err)
	}
	var doc struct {
		Examples []struct {
			Body json.RawMessage `json:"body"`
		} `json:"examples"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, e := range doc.Examples {
		var b bytes.Buffer
		if err := json.Compact(&b, e.Body); err != nil {
			f.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// FuzzHandler: the receiving http.Handler end to end, with any method,
// headers and body, signed by the secret or not, and any reply of the
// platform's code. Its answer is one of the documented statuses (405, 413,
// 401, 400, 409, 429, the reply's own, or 500 only when the platform's code
// failed, panicked or chose no valid status), error answers are the JSON
// error body, and a retry of a handled event is 409 without running the
// platform's code again.
func FuzzHandler(f *testing.F) {
	for _, v := range ourVectors {
		f.Add(true, "POST", v.id, vecTimestamp, "", uint8(0), []byte(v.body))
		f.Add(true, "POST", "", "", "", uint8(3), []byte(v.body))
		f.Add(false, "POST", v.id, vecTimestamp, v.v1, uint8(1), []byte(v.body))
		f.Add(false, "POST", v.id, vecTimestamp, v.v1Old, uint8(2), []byte(v.body))
	}
	f.Add(true, "POST", "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a09", vecTimestamp, "", uint8(4), []byte(vecTestBody))
	f.Add(true, "POST", vecTestID, vecTimestamp, "", uint8(5), []byte(`{"type":"NEW","webhookId":"`+vecTestID+`","timestamp":"2026-11-22T07:00:00Z"}`))
	f.Add(true, "POST", vecTestID, vecTimestamp, "", uint8(6), []byte(`{"type":"TEST"`))
	f.Add(true, "GET", vecTestID, vecTimestamp, "", uint8(7), []byte(vecTestBody))
	f.Add(true, "POST", vecTestID, vecTimestamp, "", uint8(8), bytes.Repeat([]byte(" "), 5000))
	v := mustStandard(f, StandardConfig{Secrets: []string{vecSecret}, Now: func() time.Time { return vecAttempt }})
	signer, err := NewSigner(Keys{Secrets: []string{vecSecret}})
	if err != nil {
		f.Fatal(err)
	}
	const maxBody = 4096
	f.Fuzz(func(t *testing.T, sign bool, method, id, ts, sig string, reply uint8, body []byte) {
		var (
			calls int
			want  int // the reply's status, or 500
		)
		platform := EventHandlerFunc(func(ctx context.Context, ev Event) (Reply, error) {
			calls++
			switch reply % 9 {
			case 0:
				return OK(), nil
			case 1:
				return Approve(map[string]any{"FULL_NAME": "Bob"}), nil
			case 2:
				return Async(), nil
			case 3:
				return Reject(string(body)), nil
			case 4:
				return NeedMoreInfo(FieldNationality), nil
			case 5:
				return Reply{}, errors.New("platform down")
			case 6:
				panic("platform bug")
			case 7:
				return Reply{Status: int(reply) * 7}, nil // 1xx to 1785: valid or not
			default:
				return Reply{Status: http.StatusServiceUnavailable}, nil
			}
		})
		h, err := NewHandler(HandlerConfig{Verifier: v, Handler: platform, MaxBodyBytes: maxBody,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		hdr := http.Header{}
		if sign {
			if id == "" {
				id = vecTestID
			}
			if err := signer.SignTo(hdr, id, vecAttempt, body); err != nil {
				hdr.Set(HeaderWebhookID, id) // an id the signer refuses: sent as it is
			}
		} else {
			hdr.Set(HeaderWebhookID, id)
			hdr.Set(HeaderWebhookTimestamp, ts)
			hdr.Set(HeaderWebhookSignature, sig)
		}
		serve := func() *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
			if validMethod(method) {
				req.Method = method
			}
			req.Header = hdr.Clone()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w
		}
		w := serve()
		status := w.Code
		switch {
		case status == http.StatusMethodNotAllowed:
			if !validMethod(method) || method == http.MethodPost {
				t.Fatalf("405 for %q", method)
			}
		case status == http.StatusRequestEntityTooLarge:
			if len(body) <= maxBody {
				t.Fatalf("413 for %d bytes", len(body))
			}
		case status == http.StatusUnauthorized, status == http.StatusBadRequest:
		case calls == 0:
			t.Fatalf("status %d without running the platform's code", status)
		default:
			switch reply % 9 {
			case 0, 1:
				want = 200
			case 2:
				want = 202
			case 3:
				want = 403
			case 4:
				want = 422
			case 5, 6:
				want = 500
			case 7:
				if want = int(reply) * 7; want < 200 || want > 599 {
					want = 500
				}
			default:
				want = 503
			}
			if status != want {
				t.Fatalf("status %d, want %d (reply %d)", status, want, reply%9)
			}
		}
		if status >= 400 && status != 422 && status != 403 && status != want {
			var e APIError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Status != status || e.Code == "" || e.Message == "" {
				t.Fatalf("%d answered %q", status, w.Body.String())
			}
		}
		if calls == 0 {
			return
		}
		// The sender's retry: 409 once the event was handled, the
		// platform's code again otherwise.
		before := calls
		w = serve()
		if handled(status) {
			if w.Code != http.StatusConflict || calls != before {
				t.Fatalf("retry of a handled event (%d): %d, platform called %d times", status, w.Code, calls)
			}
		} else if calls != before+1 {
			t.Fatalf("retry of an event answered %d: %d, platform not called again", status, w.Code)
		}
	})
}

// validMethod reports whether m can be a request's method (a token).
func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}
