package webhook

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Our published vectors (docs/webhooks.md, "Test vectors"). The expected
// signatures were computed independently with Python's hmac and
// cryptography modules from the same inputs, not with this package.
const (
	vecSecret     = "whsec_wIoKh6qFTFFdpP4PjwU6ZYC2vxhYqb8JyBM2mBxIApk="
	vecOldSecret  = "whsec_NY5Fc0bY5f/oQl6zT4BPnpBf3g4OrMAxe+GqClEjR4E="
	vecSigningKey = "whsk_oLcJV4vrx8OuypRdube5PvB8zr+riL04NN4NBOURwKo="
	vecPublicKey  = "whpk_LBfdFoiYfMhInu623PQrYYxKhGZxcrVqXJR1WRJrb1k="
	vecTimestamp  = "1795330805" // 2026-11-22T07:00:05Z, the attempt time

	vecTestID   = "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a01"
	vecTestBody = `{"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a01","type":"TEST"}`

	vecIncomingID   = "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02"
	vecIncomingBody = `{"transaction":{"id":"Transaction:01a2020d-f8f0-7a11-9b3c-2e4d6f8a0b12","status":"PENDING","type":"INCOMING","senderUmaAddress":"$alice@sender.example","receiverUmaAddress":"$bob@vasp.example","userId":"User:01a1f5c2-0a00-7d4e-8c21-0f1e2d3c4b5a","platformUserId":"bob-42","createdAt":"2026-11-22T06:59:58Z","counterpartyInformation":{"FULL_NAME":"Alice Sender"},"receivedAmount":{"amount":50000,"currency":{"code":"USD","name":"United States Dollar","symbol":"$","decimals":2}},"reconciliationInstructions":{"reference":"REF-7Q2M9X"}},"requestedReceiverUserInfoFields":[{"name":"NATIONALITY","mandatory":true}],"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02","type":"INCOMING_PAYMENT"}`
)

type ourVector struct {
	name              string
	id, body          string
	umaaas, umaaasOld string // X-UMAaas-Signature with the current / old secret
	v1, v1Old, v1a    string // webhook-signature entries
}

var ourVectors = []ourVector{
	{
		name: "TEST", id: vecTestID, body: vecTestBody,
		umaaas:    "90ea6de62794f92115dad19d4e2b87618494db807281f33176d48417fa232c04",
		umaaasOld: "1bf81e2a1d50e6e0484736896cadcc53d48e617898436f907d495010f4597aab",
		v1:        "v1,JGiFZfh7Q1HlgkbFtnFk/MSIW8ZclgQ2ecu+gk70nY8=",
		v1Old:     "v1,EHFWSsnv71hYEBz4TzMHcBlDZpu2ki9C+Omc3Onpsyc=",
		v1a:       "v1a,UBLXqDUmDumAse0bmi05arU2FSJdGT0zy2uaVfxkHHJxpJ4lJZ+og3kmJeQfl0AMmDc1Y/fJd9u6sXxxWtQuDg==",
	},
	{
		name: "INCOMING_PAYMENT", id: vecIncomingID, body: vecIncomingBody,
		umaaas:    "c58a724d3ff39c2b4794e6f77d85d3b3fe9cbf3f4329084843c34d02c6c55b50",
		umaaasOld: "5735333962a86f097678c6e04410786082b206e93a5c80e904541e46b5420579",
		v1:        "v1,p9LWdvCmOwjI0C/qDFhbugoH57UnuTaV/xC5VuJwsik=",
		v1Old:     "v1,QAb1iFIm4j8IoxEEsaRi0Wam4HfY3IG1HMEo7ySwJvI=",
		v1a:       "v1a,UnhrmJSKPsHdwwG5pD/qzYJSKnIpvJRiX/8hwWQ8Qcw4KaTa515LCAR40iLsL8mkFKGadEcR4IFNGxU1J9jtCw==",
	},
}

var vecAttempt = time.Unix(1795330805, 0)

func TestOurVectorsMarshal(t *testing.T) {
	b, err := Marshal(&TestWebhook{BaseWebhook{Timestamp: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), WebhookID: vecTestID}})
	if err != nil || string(b) != vecTestBody {
		t.Fatalf("Marshal(TEST) = %s, %v\nwant %s", b, err, vecTestBody)
	}
	b, err = Marshal(exampleIncoming())
	if err != nil || string(b) != vecIncomingBody {
		t.Fatalf("Marshal(INCOMING_PAYMENT) = %s, %v\nwant %s", b, err, vecIncomingBody)
	}
}

func TestOurVectorsSign(t *testing.T) {
	pub, err := PublicKey(vecSigningKey)
	if err != nil || pub != vecPublicKey {
		t.Fatalf("PublicKey = %q, %v; want %q", pub, err, vecPublicKey)
	}
	for _, v := range ourVectors {
		t.Run(v.name, func(t *testing.T) {
			h, err := Sign(Keys{Secrets: []string{vecSecret}}, v.id, vecAttempt, []byte(v.body))
			if err != nil {
				t.Fatal(err)
			}
			want := http.Header{}
			want.Set(HeaderUMAaaSSignature, v.umaaas)
			want.Set(HeaderWebhookID, v.id)
			want.Set(HeaderWebhookTimestamp, vecTimestamp)
			want.Set(HeaderWebhookSignature, v.v1)
			assertHeaders(t, h, want)

			// Rotation with an ed25519 key: every key signs, newest first.
			h, err = Sign(Keys{Secrets: []string{vecSecret, vecOldSecret}, SigningKeys: []string{vecSigningKey}}, v.id, vecAttempt, []byte(v.body))
			if err != nil {
				t.Fatal(err)
			}
			want.Set(HeaderUMAaaSSignature, v.umaaas+" "+v.umaaasOld)
			want.Set(HeaderWebhookSignature, v.v1+" "+v.v1Old+" "+v.v1a)
			assertHeaders(t, h, want)
		})
	}
}

func TestOurVectorsVerify(t *testing.T) {
	at := func() time.Time { return vecAttempt.Add(90 * time.Second) }
	for _, v := range ourVectors {
		t.Run(v.name, func(t *testing.T) {
			body := []byte(v.body)
			std := func(sig string) http.Header {
				h := http.Header{}
				h.Set(HeaderWebhookID, v.id)
				h.Set(HeaderWebhookTimestamp, vecTimestamp)
				h.Set(HeaderWebhookSignature, sig)
				return h
			}
			cur := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: at})
			old := mustStandard(t, StandardConfig{Secrets: []string{vecOldSecret}, Now: at})
			ed := mustStandard(t, StandardConfig{PublicKeys: []string{vecPublicKey}, Now: at})
			rotation := v.v1 + " " + v.v1Old + " " + v.v1a
			for _, c := range []struct {
				name string
				v    Verifier
				sig  string
				want error
			}{
				{"current secret", cur, v.v1, nil},
				{"old secret alone", old, v.v1, ErrNoMatch},
				{"rotation header, current secret", cur, rotation, nil},
				{"rotation header, old secret", old, rotation, nil},
				{"rotation header, public key", ed, rotation, nil},
				{"public key, only v1", ed, v.v1 + " " + v.v1Old, ErrNoMatch},
			} {
				if err := c.v.Verify(std(c.sig), body); !errorIs(err, c.want) {
					t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
				}
			}

			u, err := NewUMAaaSVerifier(vecSecret)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set(HeaderUMAaaSSignature, v.umaaas)
			if err := u.Verify(h, body); err != nil {
				t.Errorf("X-UMAaas-Signature: %v", err)
			}
			h.Set(HeaderUMAaaSSignature, v.umaaasOld+" "+v.umaaas)
			if err := u.Verify(h, body); err != nil {
				t.Errorf("X-UMAaas-Signature during rotation: %v", err)
			}
			h.Set(HeaderUMAaaSSignature, v.umaaasOld)
			if err := u.Verify(h, body); !errorIs(err, ErrNoMatch) {
				t.Errorf("X-UMAaas-Signature with the old secret only: %v, want ErrNoMatch", err)
			}
		})
	}
}

// Standard Webhooks reference-library vectors (standard-webhooks
// libraries/*/ tests; recomputed in ../shared/docs/webhooks.md §5).
var standardVectors = []struct {
	name, secret, id, ts, body, sig string
}{
	{"primary", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
		`{"test": 2432232314}`, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	{"rust", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", "1649367553",
		`{"email":"test@example.com","username":"test_user"}`, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
}

func TestStandardWebhooksVectors(t *testing.T) {
	for _, v := range standardVectors {
		t.Run(v.name, func(t *testing.T) {
			ts, _ := parseUnixSeconds(v.ts)
			at := time.Unix(ts, 0)
			for _, secret := range []string{v.secret, strings.TrimPrefix(v.secret, SecretPrefix)} {
				ver := mustStandard(t, StandardConfig{Secrets: []string{secret}, Now: func() time.Time { return at }})
				h := http.Header{}
				h.Set(HeaderWebhookID, v.id)
				h.Set(HeaderWebhookTimestamp, v.ts)
				h.Set(HeaderWebhookSignature, v.sig)
				if err := ver.Verify(h, []byte(v.body)); err != nil {
					t.Errorf("secret %q: %v", secret[:8], err)
				}
				// The Go reference test: a valid v1 among invalid and unknown entries.
				h.Set(HeaderWebhookSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc "+v.sig+" v1,invalid")
				if err := ver.Verify(h, []byte(v.body)); err != nil {
					t.Errorf("multi-signature: %v", err)
				}
				if err := ver.Verify(h, []byte(v.body+" ")); !errorIs(err, ErrNoMatch) {
					t.Errorf("tampered body: %v, want ErrNoMatch", err)
				}
			}
			// Our signer produces the reference signature (the id is not a
			// vaspd id, but any dot-free id is valid for signing).
			key, _ := ParseSecret(v.secret)
			if got := "v1," + b64(standardHMAC(key, v.id, v.ts, []byte(v.body))); got != v.sig {
				t.Errorf("standardHMAC = %s, want %s", got, v.sig)
			}
		})
	}
}

// Lightspark go-sdk webhooks/test/webhooks_test.go.
const (
	lightsparkSecret = "3gZ5oQQUASYmqQNuEk0KambNMVkOADDItIJjzUlAWjX"
	lightsparkBody   = `{"event_type": "NODE_STATUS", "event_id": "1615c8be5aa44e429eba700db2ed8ca5", "timestamp": "2023-05-17T23:56:47.874449+00:00", "entity_id": "lightning_node:01882c25-157a-f96b-0000-362d42b64397"}`
	lightsparkSig    = "62a8829aeb48b4142533520b1f7f86cdb1ee7d718bf3ea15bc1c662d4c453b74"
)

// Coinbase Commerce coinbase-commerce-node test/testWebhook.spec.js.
const (
	coinbaseSecret = "30291a20-0bd1-4267-9b0f-e6e7b123c0bf"
	coinbaseBody   = `{"id":1,"scheduled_for":"2017-01-31T20:50:02Z","attempt_number":1,"event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6","type":"charge:created","api_version":"2018-03-22","created_at":"2017-01-31T20:49:02Z","data":{"code":"66BEOV2A","name":"The Sovereign Individual","description":"Mastering the Transition to the Information Age","hosted_url":"https://commerce.coinbase.com/charges/66BEOV2A","created_at":"2017-01-31T20:49:02Z","expires_at":"2017-01-31T21:04:02Z","timeline":[{"time":"2017-01-31T20:49:02Z","status":"NEW"}],"metadata":{},"pricing_type":"no_price","payments":[],"addresses":{"bitcoin":"0000000000000000000000000000000000","ethereum":"0x0000000000000000000000000000000000000000","litecoin":"3000000000000000000000000000000000","bitcoincash":"bitcoincash:000000000000000000000000000000000000000000"}}}}`
	coinbaseSig    = "8be7742c7d372f08a6a3224edadf18a22b65fa9e28f3f2de97376cdaa092590d"
)

func TestProviderVectors(t *testing.T) {
	ls, err := NewLightsparkVerifier(lightsparkSecret)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := NewCoinbaseCommerceVerifier(coinbaseSecret)
	if err != nil {
		t.Fatal(err)
	}
	cbWrong, err := NewCoinbaseCommerceVerifier("30291a20-0bd1-4267-9b0f-e6e7b123c0bg") // the reference's wrong secret
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		v           Verifier
		header, sig string
		body        string
		want        error
	}{
		{"lightspark", ls, "Lightspark-Signature", lightsparkSig, lightsparkBody, nil},
		{"lightspark upper-case hex", ls, "lightspark-signature", strings.ToUpper(lightsparkSig), lightsparkBody, nil},
		{"lightspark tampered", ls, "lightspark-signature", lightsparkSig, strings.Replace(lightsparkBody, "NODE_STATUS", "NODE_STATUT", 1), ErrNoMatch},
		{"lightspark missing", ls, "X-Other", lightsparkSig, lightsparkBody, ErrMissingHeader},
		{"lightspark not hex", ls, "lightspark-signature", "zz" + lightsparkSig[2:], lightsparkBody, ErrMalformedHeader},
		{"lightspark truncated", ls, "lightspark-signature", lightsparkSig[:62], lightsparkBody, ErrMalformedHeader},
		{"coinbase", cb, "X-CC-Webhook-Signature", coinbaseSig, coinbaseBody, nil},
		{"coinbase lower-case header", cb, "x-cc-webhook-signature", coinbaseSig, coinbaseBody, nil},
		{"coinbase wrong secret", cbWrong, "X-CC-Webhook-Signature", coinbaseSig, coinbaseBody, ErrNoMatch},
		{"coinbase other body", cb, "X-CC-Webhook-Signature", coinbaseSig, `{"id":1,"scheduled_for":"2017-01-31T20:50:02Z","attempt_number":1}`, ErrNoMatch},
	} {
		h := http.Header{}
		h.Set(c.header, c.sig)
		if err := c.v.Verify(h, []byte(c.body)); !errorIs(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestPublishedDocVectors keeps docs/webhooks.md and the code in step: every
// published input and signature must appear in the document verbatim.
func TestPublishedDocVectors(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatalf("reading docs/webhooks.md (part of the repository): %v", err)
	}
	text := string(doc)
	need := []string{vecSecret, vecOldSecret, vecSigningKey, vecPublicKey, vecTimestamp, vecTestBody, vecIncomingBody}
	for _, v := range ourVectors {
		need = append(need, v.id, v.umaaas, v.umaaasOld, v.v1, v.v1Old, v.v1a)
	}
	for _, s := range need {
		if !strings.Contains(text, s) {
			t.Errorf("docs/webhooks.md lacks %q", s)
		}
	}
}

// TestSharedReferenceVectors checks that the vectors encoded above are the
// ones our reference notes list. It reads ../shared, which only exists next
// to the repository on our machines and CI.
func TestSharedReferenceVectors(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "shared", "docs", "webhooks.md"))
	if os.IsNotExist(err) {
		t.Skip("../shared/docs/webhooks.md not present (fresh clone); vectors are encoded in this file")
	}
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, s := range []string{
		standardVectors[0].secret, standardVectors[0].id, standardVectors[0].ts, standardVectors[0].body, standardVectors[0].sig,
		standardVectors[1].secret, standardVectors[1].id, standardVectors[1].ts, standardVectors[1].body, standardVectors[1].sig,
		lightsparkSecret, lightsparkBody, lightsparkSig, coinbaseSecret, coinbaseSig,
	} {
		if !strings.Contains(text, s) {
			t.Errorf("../shared/docs/webhooks.md lacks %q", s)
		}
	}
}
