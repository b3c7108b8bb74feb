package uma

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// Negative vectors derived from every signed generated vector: each JSON
// leaf (and each URL parameter) is changed or removed in turn. Whenever the
// change alters the signed payload or the signature, verification must
// fail with a typed error; parsing may also reject the mutant, but never
// with an untyped error, and never panic.

// signedVectorCheck parses and verifies one message body with a fresh
// verifier and returns the payload and signature it verified.
type signedVectorCheck func(t *testing.T, body []byte) (payload, sig string, parseErr, verifyErr error)

func signedVectorChecks() map[string]signedVectorCheck {
	ctx := context.Background()
	bob := Address{User: "bob", Domain: "vasp2.com", UMA: true}
	return map[string]signedVectorCheck{
		"generated/02_lnurlp_response.json": func(t *testing.T, body []byte) (string, string, error, error) {
			r, err := ParseLnurlpResponse(body)
			if err != nil {
				return "", "", err, nil
			}
			sig := ""
			if r.Compliance != nil {
				sig = r.Compliance.Signature
			}
			_, err = vectorVerifier(t).VerifyLnurlpResponse(ctx, r, bob)
			return r.SignablePayload(), sig, nil, err
		},
		"generated/03_payreq_receiving_currency.json": payReqCheck,
		"generated/03b_payreq_msats.json":             payReqCheck,
		"generated/04_payreq_response.json": func(t *testing.T, body []byte) (string, string, error, error) {
			r, err := ParsePayReqResponse(body)
			if err != nil {
				return "", "", err, nil
			}
			sig := ""
			if r.PayeeData != nil && r.PayeeData.Compliance != nil {
				sig = r.PayeeData.Compliance.Signature
			}
			_, err = vectorVerifier(t).VerifyPayReqResponse(ctx, r, "$alice@vasp1.com", bob)
			// The payee identifier may fall back to the address we paid (see
			// PayReqResponse.Verify), so that is the payload that must hold.
			return r.SignablePayload("$alice@vasp1.com", bob.String()), sig, nil, err
		},
		"generated/05_post_tx_callback.json": func(t *testing.T, body []byte) (string, string, error, error) {
			c, err := ParsePostTransactionCallback(body)
			if err != nil {
				return "", "", err, nil
			}
			return c.SignablePayload(), c.Signature, nil, vectorVerifier(t).VerifyPostTransactionCallback(ctx, c, "vasp1.com")
		},
	}
}

func payReqCheck(t *testing.T, body []byte) (string, string, error, error) {
	r, err := ParsePayRequest(body)
	if err != nil {
		return "", "", err, nil
	}
	sig := ""
	if r.PayerData != nil && r.PayerData.Compliance != nil {
		sig = r.PayerData.Compliance.Signature
	}
	_, err = vectorVerifier(t).VerifyPayRequest(context.Background(), r)
	return r.SignablePayload(), sig, nil, err
}

func TestVectorTamperedBodies(t *testing.T) {
	for file, check := range signedVectorChecks() {
		t.Run(file, func(t *testing.T) {
			var v struct {
				Body json.RawMessage `json:"body"`
			}
			loadVector(t, file, &v)
			orig := decodeJSONNumber(t, v.Body)
			// The vector itself, re-serialised, verifies.
			base, _ := json.Marshal(orig)
			payload0, sig0, perr, verr := check(t, base)
			if perr != nil || verr != nil {
				t.Fatalf("unmodified vector: %v %v", perr, verr)
			}
			mutants := jsonMutants(orig, "")
			if len(mutants) < 10 {
				t.Fatalf("only %d mutants", len(mutants))
			}
			failed := 0
			for _, m := range mutants {
				b, _ := json.Marshal(m.doc)
				payload, sig, perr, verr := check(t, b)
				if perr != nil {
					checkTypedErr(t, perr)
					failed++
					continue
				}
				if verr != nil {
					checkTypedErr(t, verr)
					failed++
					continue
				}
				if payload != payload0 || sig != sig0 {
					t.Errorf("%s: payload %q sig %.16s… verified after tampering", m.what, payload, sig)
				}
			}
			if failed == 0 {
				t.Fatal("no mutant was rejected")
			}
		})
	}
}

func TestVectorTamperedLnurlpRequest(t *testing.T) {
	var v struct {
		URL string `json:"url"`
	}
	loadVector(t, "generated/01_lnurlp_request.json", &v)
	u, _ := url.Parse(v.URL)
	r0, err := ParseLnurlpRequest(u)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var mutants []*url.URL
	for _, k := range keys {
		for _, val := range []string{mutateString(q.Get(k)), ""} {
			m := *u
			q2 := u.Query()
			if val == "" {
				q2.Del(k)
			} else {
				q2.Set(k, val)
			}
			m.RawQuery = q2.Encode()
			mutants = append(mutants, &m)
		}
	}
	for _, p := range []string{"/.well-known/lnurlp/$carol", "/.well-known/lnurlp/bob"} {
		m := *u
		m.Path = p
		mutants = append(mutants, &m)
	}
	m := *u
	m.Host = "vasp3.com"
	mutants = append(mutants, &m)
	for _, m := range mutants {
		r, err := ParseLnurlpRequest(m)
		if err != nil {
			checkTypedErr(t, err)
			continue
		}
		if !r.IsUMA() {
			continue
		}
		_, err = vectorVerifier(t).VerifyLnurlpRequest(context.Background(), r)
		if err != nil {
			checkTypedErr(t, err)
			continue
		}
		if r.SignablePayload() != r0.SignablePayload() || r.Signature != r0.Signature {
			t.Errorf("%s verified after tampering", m)
		}
	}
}

// decodeJSONNumber decodes b keeping numbers as json.Number (exact).
func decodeJSONNumber(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

type jsonMutant struct {
	what string
	doc  any
}

// jsonMutants returns, for every leaf of v, a copy with that leaf changed,
// and for every object key, a copy without it.
func jsonMutants(v any, path string) []jsonMutant {
	var out []jsonMutant
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			without := shallowCopyMap(x)
			delete(without, k)
			out = append(out, jsonMutant{"delete " + p, without})
			for _, m := range jsonMutants(x[k], p) {
				c := shallowCopyMap(x)
				c[k] = m.doc
				out = append(out, jsonMutant{m.what, c})
			}
		}
	case []any:
		for i := range x {
			for _, m := range jsonMutants(x[i], fmt.Sprintf("%s[%d]", path, i)) {
				c := append([]any(nil), x...)
				c[i] = m.doc
				out = append(out, jsonMutant{m.what, c})
			}
		}
	case string:
		out = append(out, jsonMutant{"change " + path, mutateString(x)})
	case json.Number:
		out = append(out, jsonMutant{"change " + path, json.Number(mutateNumber(string(x)))})
	case bool:
		out = append(out, jsonMutant{"flip " + path, !x})
	}
	return out
}

func shallowCopyMap(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// mutateString changes the last character, staying in the hex alphabet for
// hex strings so that signatures still parse as DER and fail on the math.
func mutateString(s string) string {
	if s == "" {
		return "x"
	}
	last := s[len(s)-1]
	switch {
	case last == '0':
		return s[:len(s)-1] + "1"
	case strings.IndexByte("123456789abcdef", last) >= 0:
		return s[:len(s)-1] + "0"
	default:
		return s + "x"
	}
}

// mutateNumber adds one to the last digit's place.
func mutateNumber(s string) string {
	if strings.HasSuffix(s, "9") || !strings.ContainsAny(s[len(s)-1:], "012345678") {
		return s + "1"
	}
	return s[:len(s)-1] + string(s[len(s)-1]+1)
}
