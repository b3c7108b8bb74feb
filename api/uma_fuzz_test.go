package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/uma"
)

// umaFixture is a payFixture whose UMA endpoints are not rate-limited (the
// fuzzer is one client sending thousands of requests), with an incoming
// payment to $bob whose utxoCallback path a post-transaction callback can
// be sent to, and the keys of another VASP that sends UMA requests.
type umaFixture struct {
	*payFixture
	callbackPath string // of bob's incoming payment
	otherDomain  string
	other        *uma.Keys
}

func newUMAFixture(t testing.TB) *umaFixture {
	t.Helper()
	u := &umaFixture{}
	u.payFixture = newPayFixtureAPI(t, fuzzDB(t), nil, nil, func(o *api.Options) { o.UMARequestsPerSecond = -1 })
	u.otherDomain, u.other = keyServer(t, func(d string) *uma.Keys { return newKeys(t, d) })
	status, raw, _ := u.call(t, "POST", "/api/uma/payreq/bob", nil, mustJSON(t, u.signedPayReq(t, 1000, "EUR", "$alice@"+u.domain)))
	if status != 200 {
		t.Fatalf("payreq: %d %s", status, raw)
	}
	resp, err := uma.ParsePayReqResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := url.Parse(resp.PayeeData.Compliance.UtxoCallback)
	if err != nil {
		t.Fatal(err)
	}
	u.callbackPath = cb.RequestURI()
	return u
}

// signedPayReq is an UMA payreq from identifier for amount of currency,
// signed now with the fixture's own key (the fixture's domain serves it).
func (u *umaFixture) signedPayReq(t testing.TB, amount int64, currency, identifier string) *uma.PayRequest {
	t.Helper()
	pr := &uma.PayRequest{Amount: amount, SendingCurrency: currency, ReceivingCurrency: currency,
		PayerData: &uma.PayerData{Identifier: identifier, Name: "Alice Sender", Compliance: &uma.CompliancePayerData{
			KycStatus: uma.KycVerified, NodePubKey: "02" + strings.Repeat("ab", 32),
			UtxoCallback: u.base + "/api/uma/utxoCallback?txid=x",
		}},
		PayeeData: uma.UMADataOptions("name"),
	}
	if err := pr.Sign(u.keys.Signing, time.Now()); err != nil {
		t.Fatal(err)
	}
	return pr
}

// resign gives body, a JSON object, a fresh signature of the fixture's
// key where sign would put one: the fields of the object at path (nil: the
// top) named like those of the JSON of signed. Anything else in body is
// kept as it is; a body that is not such an object is returned unchanged.
func resign(body []byte, signed any, path ...string) []byte {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return body
	}
	fresh, _ := json.Marshal(signed)
	var f map[string]any
	_ = json.Unmarshal(fresh, &f)
	dst, src := m, f
	for _, p := range path {
		next, ok := dst[p].(map[string]any)
		if !ok {
			return body
		}
		dst, src = next, src[p].(map[string]any)
	}
	for _, k := range []string{"signature", "signatureNonce", "signatureTimestamp"} {
		if v, ok := src[k]; ok {
			dst[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// FuzzUMAHandlers: the UMA endpoints other VASPs call (lnurlp, payreq by
// POST and GET, utxoCallback, request_pay), with any user, query and
// body, sent as they come or signed afresh with the key of the VASP they
// name, so that fuzzed content gets past the signature check (on
// PostgreSQL when VASPD_TEST_POSTGRES_URL is set). The answer is never a
// 500, nor another 5xx but UMA's own 501s; an error is UMA's error JSON
// with its code's status (405, 413 and 429 aside), and a success parses as
// the message UMA says it is.
func FuzzUMAHandlers(f *testing.F) {
	u := newUMAFixture(f)
	payreq, _ := json.Marshal(u.signedPayReq(f, 1000, "EUR", "$alice@"+u.domain))
	cb := &uma.PostTransactionCallback{VaspDomain: u.domain, Utxos: []uma.UtxoWithAmount{{Utxo: strings.Repeat("ab", 32) + ":0", AmountMsats: 1000}}}
	cb.Sign(u.keys.Signing, time.Now())
	callback, _ := json.Marshal(cb)
	for _, s := range []struct {
		kind        uint8
		user, query string
		body        []byte
	}{
		{0, "$bob", "", nil},
		{0, "bob", "amount=1000", nil},
		{0, "$bob", "vaspDomain=x&nonce=1&signature=00&isSubjectToTravelRule=true&timestamp=1&umaVersion=1.0", nil},
		{1, "bob", "", nil},
		{1, "$alice", "umaVersion=0.3", nil},
		{1, "nobody", "x=%zz", nil},
		{2, "bob", "", payreq},
		{2, "bob", "", []byte(`{"amount":"1000.EUR","convert":"EUR","payerData":{"identifier":"$a@evil.example"}}`)},
		{3, "bob", "", payreq},
		{3, "$bob", "", bytes.Replace(payreq, []byte(`"amount":"1000.EUR"`), []byte(`"amount":"99999999999999999999.EUR"`), 1)},
		{3, "bob", "", bytes.Replace(payreq, []byte(`"convert":"EUR"`), []byte(`"convert":"XXX"`), 1)},
		{4, "bob", "amount=1000", nil},
		{4, "bob", "amount=1000.EUR&convert=EUR&payerData=%7B%7D", nil},
		{5, "", "txid=Transaction:019a0000-0000-7000-8000-000000000000", callback},
		{6, "", "", callback},
		{6, "", "", []byte(`{"utxos":[{"utxo":"x","amount":-1}],"vaspDomain":"DOMAIN","transactionStatus":"FAILED","errorCode":"X","errorReason":"\u0000"}`)},
		{7, "", "", []byte(`{"invoice":"uma1qqxzgen0daqxyctywda3xsqq"}`)},
		{8, "alice", "USD", nil},
		{8, "nobody", "", nil},
	} {
		f.Add(s.kind, s.user, s.query, s.body, int64(1250))
	}
	addUMAVectorSeeds(f)
	f.Fuzz(func(t *testing.T, kind uint8, user, query string, body []byte, n int64) {
		body = bytes.ReplaceAll(body, []byte("DOMAIN"), []byte(u.domain))
		method, path := "POST", ""
		switch kind % 9 {
		case 0:
			method, path = "GET", "/.well-known/lnurlp/"+url.PathEscape(user)+"?"+query
		case 1:
			addr, err := uma.ParseAddress("$" + strings.TrimPrefix(user, "$") + "@" + u.domain)
			if err != nil {
				return
			}
			req, err := uma.NewLnurlpRequest(u.keys.Signing, addr, u.domain, true, uma.Version1, time.Now().Add(time.Duration(n%100_000)*time.Second))
			if err != nil {
				return
			}
			l, err := req.URL()
			if err != nil {
				t.Fatal(err)
			}
			method, path = "GET", l.RequestURI()+"&"+query
		case 2:
			path = "/api/uma/payreq/" + url.PathEscape(user)
		case 3:
			path = "/api/uma/payreq/" + url.PathEscape(user)
			var probe struct {
				PayerData struct {
					Identifier string `json:"identifier"`
				} `json:"payerData"`
			}
			_ = json.Unmarshal(body, &probe)
			if id := probe.PayerData.Identifier; id != "" {
				body = resign(body, u.signedPayReq(t, 1, "EUR", id), "payerData", "compliance")
			}
		case 4:
			method, path = "GET", "/api/uma/payreq/"+url.PathEscape(user)+"?"+query
		case 5:
			path = "/api/uma/utxoCallback?" + query
		case 6:
			fresh := &uma.PostTransactionCallback{VaspDomain: u.domain}
			fresh.Sign(u.keys.Signing, time.Now())
			path, body = u.callbackPath, resign(body, fresh)
		case 7:
			path = "/api/uma/request_pay"
		case 8:
			inv := &uma.Invoice{ReceiverUMA: "$carol@" + u.otherDomain, InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69f9", Amount: n,
				ReceivingCurrency: uma.InvoiceCurrency{Code: query, Name: query, Symbol: "$", Decimals: 2},
				Expiration:        time.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
				UmaVersions: uma.Version1.String(), SenderUMA: "$" + strings.TrimPrefix(user, "$") + "@" + u.domain,
				Callback: "http://" + u.otherDomain + "/api/uma/payreq/carol",
			}
			if inv.Sign(u.other.Signing) != nil {
				return
			}
			link, err := inv.URI()
			if err != nil {
				return
			}
			path, body = "/api/uma/request_pay", []byte(mustJSON(t, uma.UmaRequest{Invoice: link}))
		}
		// A space or control character in the request line is refused by
		// net/http's server (a plain 400) before any handler sees it.
		if strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return
		}
		req, err := http.NewRequest(method, u.base+path, bytes.NewReader(body))
		if err != nil {
			return // no client can send it
		}
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // a request net/http will not send (a bad query, say)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		checkUMAAnswer(t, method+" "+path, kind%9, resp.StatusCode, raw)
	})
}

// addUMAVectorSeeds adds the messages of ../shared/uma-vectors/generated,
// when it is there (its files are read, never copied into the repository):
// each lnurlp request's query, each payreq body (to $alice, who takes USD)
// and each post-transaction callback, as sent and signed afresh, their
// sender's domain vasp1.com made ours (DOMAIN).
func addUMAVectorSeeds(f *testing.F) {
	dir := filepath.Join("..", "..", "shared", "uma-vectors", "generated")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // no ../shared: the seeds above only
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		raw = bytes.ReplaceAll(raw, []byte("vasp1.com"), []byte("DOMAIN"))
		var v struct {
			URL  string          `json:"url"`
			Body json.RawMessage `json:"body"`
		}
		if json.Unmarshal(raw, &v) != nil {
			continue
		}
		if _, q, ok := strings.Cut(v.URL, "?"); ok && strings.Contains(v.URL, "/.well-known/lnurlp/") {
			f.Add(uint8(0), "$bob", q, []byte(nil), int64(0))
		}
		switch {
		case bytes.Contains(v.Body, []byte(`"payerData"`)):
			f.Add(uint8(2), "alice", "", []byte(v.Body), int64(0))
			f.Add(uint8(3), "alice", "", []byte(v.Body), int64(0))
		case bytes.Contains(v.Body, []byte(`"utxos"`)):
			f.Add(uint8(5), "", "txid=x", []byte(v.Body), int64(0))
			f.Add(uint8(6), "", "", []byte(v.Body), int64(0))
		}
	}
}

// checkUMAAnswer fails on a 5xx that is not its UMA code's own status (a
// 500 INTERNAL_ERROR always fails; UMA answers an unrecognised mandatory
// payee data key with 501), an error that is not UMA's error JSON with its
// code's status, or a success that is not the message of its kind.
func checkUMAAnswer(t *testing.T, what string, kind uint8, status int, raw []byte) {
	t.Helper()
	if e, ok := uma.ParseErrorBody(raw); status >= 500 && (!ok || e.Code == uma.CodeInternalError || e.HTTPStatus() != status) {
		t.Fatalf("%s: %d %s", what, status, raw)
	}
	if status >= 400 {
		e, ok := uma.ParseErrorBody(raw)
		if !ok || e.Reason == "" || bytes.Contains(raw, []byte(`"message"`)) {
			t.Fatalf("%s: %d, not UMA's error JSON: %s", what, status, raw)
		}
		if want := e.HTTPStatus(); e.Code != "" && want != status && status != 405 && status != 413 && status != 429 {
			t.Fatalf("%s: %d for code %s, whose status is %d: %s", what, status, e.Code, want, raw)
		}
		return
	}
	switch kind {
	case 0, 1:
		if _, err := uma.ParseLnurlpResponse(raw); err != nil {
			t.Fatalf("%s: %d but not an lnurlp response (%v): %s", what, status, err, raw)
		}
	case 2, 3, 4:
		if _, err := uma.ParsePayReqResponse(raw); err != nil {
			t.Fatalf("%s: %d but not a payreq response (%v): %s", what, status, err, raw)
		}
	default:
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %d, not JSON: %q", what, status, raw)
		}
	}
}
