package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

func TestUMALnurlp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		now := time.Now()
		_, otherKeys := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		signed := f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, now)
		tests := []struct {
			name   string
			path   string
			status int
			code   uma.ErrorCode // "" = success
		}{
			{"unknown user, UMA", "/.well-known/lnurlp/$nobody?" + strings.SplitN(f.lnurlpPath(t, "nobody", f.domain, f.keys.Signing, now), "?", 2)[1], 404, uma.CodeUserNotFound},
			{"unknown user, plain", "/.well-known/lnurlp/nobody", 404, uma.CodeUserNotFound},
			{"invalid user name", "/.well-known/lnurlp/" + url.PathEscape("a b<script>"), 404, uma.CodeUserNotFound},
			{"overlong user name", "/.well-known/lnurlp/" + strings.Repeat("a", 300), 404, uma.CodeUserNotFound},
			{"signed by the wrong key", f.lnurlpPath(t, "bob", f.domain, otherKeys.Signing, now), 401, uma.CodeInvalidSignature},
			{"too old", f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, now.Add(-25*time.Hour)), 400, uma.CodeInvalidNonce},
			{"in the future", f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, now.Add(time.Hour)), 400, uma.CodeInvalidTimestamp},
			{"partial UMA parameters", "/.well-known/lnurlp/$bob?vaspDomain=" + url.QueryEscape(f.domain) + "&nonce=1", 400, ""},
			{"non-numeric timestamp", strings.Replace(f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, now), "timestamp=", "timestamp=x", 1), 400, ""},
			{"valid", signed, 200, ""},
			{"replayed", signed, 400, uma.CodeInvalidNonce},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, m := f.call(t, "GET", tc.path, nil, "")
				switch {
				case tc.status == 200:
					if status != 200 {
						t.Fatalf("got %d %s", status, raw)
					}
					resp, err := uma.ParseLnurlpResponse(raw)
					if err != nil || !resp.IsUMA() || resp.Tag != "payRequest" {
						t.Fatalf("not an UMA lnurlp response (%v): %s", err, raw)
					}
					if _, ok := uma.FindCurrency(resp.Currencies, "EUR"); !ok {
						t.Fatalf("EUR not offered: %s", raw)
					}
				case tc.code != "":
					wantUMAError(t, status, raw, tc.status, tc.code)
				default:
					if status != tc.status || m["status"] != "ERROR" || m["code"] == nil {
						t.Fatalf("got %d %s, want %d with UMA error JSON", status, raw, tc.status)
					}
				}
			})
		}
	})
}

// TestUMALnurlpReceiverIsOurDomain: the receiver address an lnurlp
// request's signature covers is $user@ our configured domain, not the Host
// header. Behind a proxy that rewrites Host a sender's request still
// verifies, and one signed for a user of another domain is refused
// whatever Host it arrives with.
func TestUMALnurlpReceiverIsOurDomain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		now := time.Now()
		status, raw, _ := f.call(t, "GET", f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, now), nil, "", "Host", "127.0.0.1:1")
		if status != 200 {
			t.Fatalf("a request whose Host a proxy rewrote: %d %s", status, raw)
		}
		addr, err := uma.ParseAddress("$bob@other.example")
		if err != nil {
			t.Fatal(err)
		}
		req, err := uma.NewLnurlpRequest(f.keys.Signing, addr, f.domain, true, uma.Version1, now)
		if err != nil {
			t.Fatal(err)
		}
		u, err := req.URL()
		if err != nil {
			t.Fatal(err)
		}
		status, raw, _ = f.call(t, "GET", u.RequestURI(), nil, "", "Host", "other.example")
		wantUMAError(t, status, raw, 401, uma.CodeInvalidSignature)
	})
}

func TestUMALnurlpUnsupportedVersion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, v := range []string{"2.0", "99.3", "7"} {
			p := f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, time.Now())
			p = strings.Replace(p, "umaVersion=1.0", "umaVersion="+v, 1)
			status, raw, m := f.call(t, "GET", p, nil, "")
			wantUMAError(t, status, raw, 412, uma.CodeUnsupportedUMAVersion)
			majors, ok := m["supportedMajorVersions"].([]any)
			if !ok || len(majors) == 0 {
				t.Fatalf("%s: no supportedMajorVersions array: %s", v, raw)
			}
		}
	})
}

// A Lightning Address wallet pays $bob: lnurlp without UMA parameters,
// then GET payreq with ?amount=msats.
func TestPlainLightningAddress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		status, raw, _ := f.call(t, "GET", "/.well-known/lnurlp/bob", nil, "")
		if status != 200 {
			t.Fatalf("lnurlp: %d %s", status, raw)
		}
		resp, err := uma.ParseLnurlpResponse(raw)
		if err != nil || resp.IsUMA() || resp.Tag != "payRequest" || resp.MinSendable <= 0 || resp.Metadata == "" {
			t.Fatalf("plain lnurlp response (%v): %s", err, raw)
		}
		cb, err := url.Parse(resp.Callback)
		if err != nil {
			t.Fatal(err)
		}
		status, raw, m := f.call(t, "GET", cb.Path+"?amount=5000000", nil, "")
		if status != 200 {
			t.Fatalf("payreq: %d %s", status, raw)
		}
		inv, err := bolt11.Decode(m["pr"].(string), "regtest")
		if err != nil || inv.AmountMsat != 5_000_000 {
			t.Fatalf("invoice %v: %+v", err, inv)
		}
		if _, ok := m["payeeData"]; ok {
			t.Fatalf("a plain LNURL answer carries UMA payee data: %s", raw)
		}
		// The wallet pays; bob is credited in his currency, once.
		conv, _ := m["converted"].(map[string]any)
		if conv["currencyCode"] != "EUR" || conv["amount"].(float64) <= 0 {
			t.Fatalf("converted: %s", raw)
		}
		p, err := f.node.Pay(t.Context(), lightning.PayRequest{Invoice: m["pr"].(string), MaxFeeMsat: 10_000, Timeout: 10 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v %v", p, err)
		}
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			bs, err := f.ledger.UserBalances(t.Context(), db, f.bob.UserID)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) == 1 && bs[0].Currency == "EUR" && bs[0].Available == int64(conv["amount"].(float64)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bob's balances %+v, want %v EUR", bs, conv["amount"])
			}
		}
		ts, err := f.svc.ListTransactions(t.Context(), vasp.TransactionFilter{UserID: f.bob.UserID}, "", 10)
		if err != nil || len(ts) != 1 || ts[0].Status != vasp.StatusCompleted || ts[0].Counterparty != "" {
			t.Fatalf("transactions %+v (%v)", ts, err)
		}
		for _, tc := range []struct{ name, query string }{
			{"no amount", ""},
			{"zero", "?amount=0"},
			{"negative", "?amount=-1000"},
			{"non-numeric", "?amount=abc"},
			{"overflowing int64", "?amount=99999999999999999999999"},
			{"fraction", "?amount=1.5"},
			{"below min", "?amount=1"},
			{"above max", "?amount=9000000000000000000"},
			{"unknown currency", "?amount=100.XXX&convert=XXX"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, m := f.call(t, "GET", cb.Path+tc.query, nil, "")
				if status != 400 || m["status"] != "ERROR" || m["code"] == nil {
					t.Fatalf("got %d %s, want 400 UMA error", status, raw)
				}
			})
		}
	})
}

func TestUMAPayreqHostile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		now := time.Now()
		me := "$alice@" + f.domain
		evilDomain, evil := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		key := f.keys.Signing
		valid := mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", me, key, now))
		noPayerData := `{"amount":"1000.EUR","convert":"EUR","payerData":{"compliance":{"nodePubKey":"02ab","utxos":[],"kycStatus":"VERIFIED","signature":"00","signatureNonce":"1","signatureTimestamp":1}}}`
		tests := []struct {
			name   string
			body   string
			status int
			code   uma.ErrorCode // "" = any UMA error with that status
		}{
			{"malformed JSON", `{"amount":`, 400, uma.CodeParsePayreqRequestError},
			{"not an object", `[1,2,3]`, 400, uma.CodeParsePayreqRequestError},
			{"empty body", ``, 400, ""},
			{"null", `null`, 400, ""},
			{"amount wrong type", `{"amount":{"x":1},"convert":"EUR"}`, 400, uma.CodeParsePayreqRequestError},
			{"payerData wrong type", `{"amount":"1000.EUR","convert":"EUR","payerData":"x"}`, 400, uma.CodeParsePayreqRequestError},
			{"compliance wrong type", `{"amount":"1000.EUR","convert":"EUR","payerData":{"identifier":"` + me + `","compliance":[1]}}`, 400, uma.CodeParsePayreqRequestError},
			{"oversized", `{"amount":"1000.EUR","comment":"` + strings.Repeat("x", 300<<10) + `"}`, 413, uma.CodeParsePayreqRequestError},
			{"missing identifier", noPayerData, 400, uma.CodeMissingMandatoryPayerData},
			{"unknown currency", mustJSON(t, f.payReq(t, 1000, "XXX", "XXX", me, key, now)), 400, uma.CodeInvalidCurrency},
			{"currency mismatch", mustJSON(t, f.payReq(t, 1000, "USD", "EUR", me, key, now)), 400, uma.CodeInvalidCurrency},
			{"zero amount", mustJSON(t, f.payReq(t, 0, "EUR", "EUR", me, key, now)), 400, ""},
			{"negative amount", mustJSON(t, f.payReq(t, -5, "EUR", "EUR", me, key, now)), 400, ""},
			{"amount above range", mustJSON(t, f.payReq(t, 1<<62, "EUR", "EUR", me, key, now)), 400, uma.CodeAmountOutOfRange},
			{"msats below min", mustJSON(t, f.payReq(t, 1, "", "EUR", me, key, now)), 400, uma.CodeAmountOutOfRange},
			{"overflowing int64", strings.Replace(valid, `"1000.EUR"`, `"99999999999999999999.EUR"`, 1), 400, ""},
			{"non-numeric amount", strings.Replace(valid, `"1000.EUR"`, `"ten.EUR"`, 1), 400, ""},
			{"signed by another key", mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", me, evil.Signing, now)), 401, uma.CodeInvalidSignature},
			{"identifier domain is not the signer's", mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", "$mallory@"+f.domain, evil.Signing, now)), 401, uma.CodeInvalidSignature},
			{"signer claims another domain", mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", "$alice@"+evilDomain, key, now)), 401, uma.CodeInvalidSignature},
			{"too old", mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", me, key, now.Add(-25*time.Hour))), 400, uma.CodeInvalidNonce},
			{"in the future", mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", me, key, now.Add(time.Hour))), 400, uma.CodeInvalidTimestamp},
			{"unrecognized mandatory payee data", func() string {
				pr := f.payReq(t, 1000, "EUR", "EUR", me, key, now)
				pr.PayeeData["favoriteColor"] = uma.CounterpartyDataOption{Mandatory: true}
				return mustJSON(t, pr)
			}(), 501, uma.CodeUnrecognizedMandatoryPayeeDataKey},
			{"valid", valid, 200, ""},
			{"replayed", valid, 400, uma.CodeInvalidNonce},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, m := f.call(t, "POST", "/api/uma/payreq/bob", nil, tc.body)
				switch {
				case tc.status == 200:
					if status != 200 {
						t.Fatalf("got %d %s", status, raw)
					}
					resp, err := uma.ParsePayReqResponse(raw)
					if err != nil || resp.PayeeData == nil || resp.PayeeData.Identifier != "$bob@"+f.domain || resp.Converted == nil || resp.Converted.Amount != 1000 {
						t.Fatalf("payreq response (%v): %s", err, raw)
					}
				case tc.code != "":
					wantUMAError(t, status, raw, tc.status, tc.code)
				default:
					if status != tc.status || m["status"] != "ERROR" || m["code"] == nil {
						t.Fatalf("got %d %s, want %d with UMA error JSON", status, raw, tc.status)
					}
				}
			})
		}
		// Unknown users get the UMA 404 on the payreq too.
		status, raw, _ := f.call(t, "POST", "/api/uma/payreq/nobody", nil, mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", me, key, now)))
		wantUMAError(t, status, raw, 404, uma.CodeUserNotFound)
	})
}

func TestUMAUtxoCallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		now := time.Now()
		evilDomain, evil := keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
		// An incoming payment from $alice@f.domain gives a transaction and
		// its utxoCallback.
		status, raw, _ := f.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, now)))
		if status != 200 {
			t.Fatalf("payreq: %d %s", status, raw)
		}
		resp, err := uma.ParsePayReqResponse(raw)
		if err != nil {
			t.Fatal(err)
		}
		cbURL, err := url.Parse(resp.PayeeData.Compliance.UtxoCallback)
		if err != nil {
			t.Fatal(err)
		}
		cb := func(domain string, key *uma.PrivateKey, at time.Time) string {
			c := &uma.PostTransactionCallback{VaspDomain: domain, Utxos: []uma.UtxoWithAmount{{Utxo: strings.Repeat("ab", 32) + ":0", AmountMsats: 1000}}}
			c.Sign(key, at)
			return mustJSON(t, c)
		}
		valid := cb(f.domain, f.keys.Signing, now)
		good := cbURL.RequestURI()
		tests := []struct {
			name, path, body string
			status           int
			code             uma.ErrorCode
		}{
			{"malformed", good, `{"utxos":`, 400, uma.CodeParseUTXOCallbackError},
			{"wrong types", good, `{"utxos":"x","vaspDomain":7}`, 400, uma.CodeParseUTXOCallbackError},
			{"oversized", good, `{"utxos":[],"vaspDomain":"` + strings.Repeat("a", 300<<10) + `"}`, 413, uma.CodeParseUTXOCallbackError},
			{"unknown txid", "/api/uma/utxoCallback?txid=Transaction:019a0000-0000-7000-8000-000000000000", valid, 404, uma.CodeRequestNotFound},
			{"no txid", "/api/uma/utxoCallback", valid, 404, uma.CodeRequestNotFound},
			{"garbage txid", "/api/uma/utxoCallback?txid=%27%20OR%201=1", valid, 404, uma.CodeRequestNotFound},
			{"bad signature", good, cb(f.domain, evil.Signing, now), 401, uma.CodeInvalidSignature},
			{"wrong vaspDomain", good, cb(evilDomain, evil.Signing, now), 401, uma.CodeInvalidSignature},
			{"too old", good, cb(f.domain, f.keys.Signing, now.Add(-25*time.Hour)), 400, uma.CodeInvalidNonce},
			{"valid", good, valid, 200, ""},
			{"replayed", good, valid, 400, uma.CodeInvalidNonce},
			// The sender's retry, signed afresh: a success, not kept again.
			{"retried", good, cb(f.domain, f.keys.Signing, now), 200, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, raw, _ := f.call(t, "POST", tc.path, nil, tc.body)
				if tc.status == 200 {
					if status != 200 {
						t.Fatalf("got %d %s", status, raw)
					}
					return
				}
				wantUMAError(t, status, raw, tc.status, tc.code)
			})
		}
		// A plain LNURL payment has no UMA counterparty: nobody may post about it.
		if status, raw, _ := f.call(t, "GET", "/api/uma/payreq/bob?amount=5000000", nil, ""); status != 200 {
			t.Fatalf("plain payreq: %d %s", status, raw)
		}
		plain, err := f.svc.ListTransactions(t.Context(), vasp.TransactionFilter{Direction: vasp.Incoming}, "", 1)
		if err != nil || len(plain) != 1 || plain[0].Counterparty != "" {
			t.Fatalf("plain transaction %+v (%v)", plain, err)
		}
		status, raw, _ = f.call(t, "POST", "/api/uma/utxoCallback?txid="+url.QueryEscape(plain[0].ID), nil, cb(f.domain, f.keys.Signing, now))
		wantUMAError(t, status, raw, 404, uma.CodeRequestNotFound)
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_utxo_callbacks`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d callbacks stored (%v), want 1", n, err)
		}
		// Different callbacks about one payment are kept up to a cap; past
		// it, an UMA error with a 4xx the sender does not retry.
		for i := 1; i <= vasp.MaxUtxoCallbacks; i++ {
			c := &uma.PostTransactionCallback{VaspDomain: f.domain, Utxos: []uma.UtxoWithAmount{{Utxo: strings.Repeat("cd", 32) + ":0", AmountMsats: int64(i)}}}
			c.Sign(f.keys.Signing, now)
			status, raw, _ := f.call(t, "POST", good, nil, mustJSON(t, c))
			if i < vasp.MaxUtxoCallbacks && status != 200 {
				t.Fatalf("callback %d of %d: %d %s", i+1, vasp.MaxUtxoCallbacks, status, raw)
			}
			if i == vasp.MaxUtxoCallbacks {
				wantUMAError(t, status, raw, 403, uma.CodeForbidden)
			}
		}
	})
}

func TestUMAWellKnown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		status, raw, _ := f.call(t, "GET", "/.well-known/lnurlpubkey", nil, "")
		var pk map[string]any
		if status != 200 || json.Unmarshal(raw, &pk) != nil || pk["signingPubKey"] == nil {
			t.Fatalf("lnurlpubkey: %d %s", status, raw)
		}
		status, raw, m := f.call(t, "GET", "/.well-known/uma-configuration", nil, "")
		if status != 200 || m["uma_request_endpoint"] == nil {
			t.Fatalf("uma-configuration: %d %s", status, raw)
		}
		for _, path := range []string{"/.well-known/uma-configuration", "/.well-known/lnurlp/bob", "/api/uma/payreq/bob?amount=5000000"} {
			r, err := http.Get(f.base + path)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s: no CORS header", path)
			}
		}
		status, raw, _ = f.call(t, "POST", "/api/uma/request_pay", nil, `{"invoice":"uma1x"}`)
		wantUMAError(t, status, raw, 400, uma.CodeInvalidInvoice)
		for _, tc := range []struct {
			method, path string
			status       int
		}{
			{"PUT", "/api/uma/payreq/bob", 405},
			{"DELETE", "/.well-known/lnurlp/bob", 405},
			{"GET", "/.well-known/lnurlp/bob/extra", 404},
			{"GET", "/api/uma/utxoCallback", 405},
			{"GET", "/api/uma/nothing", 404},
		} {
			status, raw, _ := f.call(t, tc.method, tc.path, nil, "")
			wantUMAError(t, status, raw, tc.status, uma.CodeRequestNotFound)
		}
	})
}

// Broken variants of valid messages (truncated, bytes replaced, values
// retyped) are answered with UMA error JSON and a 4xx, never a 5xx.
func TestUMAMutatedInputNever5xx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		// Hundreds of requests from one address as fast as they go: a
		// flood the UMA request limit would throttle, by design.
		f := newPayFixtureAPI(t, db, nil, nil, func(o *api.Options) { o.UMARequestsPerSecond = -1 })
		valid := mustJSON(t, f.payReq(t, 1000, "EUR", "EUR", "$alice@"+f.domain, f.keys.Signing, time.Now()))
		var bodies []string
		for i := 0; i < len(valid); i += 7 {
			bodies = append(bodies, valid[:i])
			for _, c := range []string{`"`, `{`, `]`, `0`, `-`, `\`, "\x00", `null`, `1e999`, `"x"`, `[]`, `{}`} {
				bodies = append(bodies, valid[:i]+c+valid[i+1:])
			}
		}
		for _, v := range []string{`null`, `true`, `-1`, `1e308`, `"x"`, `[]`, `{}`, `18446744073709551616`} {
			for _, field := range []string{"amount", "convert", "payerData", "payeeData", "comment", "identifier", "compliance", "utxos", "signatureTimestamp", "kycStatus", "settlement"} {
				bodies = append(bodies, strings.Replace(valid, `"`+field+`":`, `"`+field+`":`+v+`,"x`+field+`":`, 1))
			}
		}
		for i, body := range bodies {
			status, raw, m := f.call(t, "POST", "/api/uma/payreq/bob", nil, body)
			if status >= 500 || (status != 200 && (m["status"] != "ERROR" || m["code"] == nil)) {
				t.Fatalf("body %d %q: got %d %s", i, body, status, raw)
			}
		}
		path := f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, time.Now())
		for i := strings.Index(path, "?") + 1; i < len(path); i += 3 {
			for _, c := range []string{"&", "=", "0", "%00", "%3D", "+", "%zz", ""} {
				p := path[:i] + c + path[i+1:]
				status, raw, m := f.call(t, "GET", p, nil, "")
				if status >= 500 || (status != 200 && (m["status"] != "ERROR" || m["code"] == nil)) {
					t.Fatalf("GET %q: got %d %s", p, status, raw)
				}
			}
		}
	})
}
