package uma

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every parser of outside input. Each checks the package's
// promise for hostile input: no panic, and every rejection is a typed *Error
// with a standard code (the one its doc comment names) whose JSON body is
// well-formed. What parses must survive a marshal/parse round trip.
//
// Seeds are built in code from a fixed test key (so a clean clone has a
// corpus), plus the shared vectors when ../shared is present; crashers found
// by `go test -fuzz` land in testdata/fuzz/<Target>/ and are checked in.
// scripts/ci/uma-fuzz.sh runs each target for a few seconds.

// fuzzKey is a fixed test key, for seeds only.
func fuzzKey() *PrivateKey {
	h := sha256.Sum256([]byte("uma-fuzz-seed-key"))
	k, err := ParsePrivateKey(h[:])
	if err != nil {
		panic(err)
	}
	return k
}

var fuzzTime = time.Unix(1735689600, 0)

// checkTypedErr fails unless err is an *Error with a standard code among
// allowed (any standard code when allowed is empty) and a valid JSON body.
func checkTypedErr(t *testing.T, err error, allowed ...ErrorCode) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
	if !e.Code.Known() {
		t.Fatalf("non-standard code %q: %v", e.Code, err)
	}
	if len(allowed) > 0 && !slices.Contains(allowed, e.Code) {
		t.Fatalf("code %s, want one of %v: %v", e.Code, allowed, err)
	}
	var body map[string]any
	if json.Unmarshal(e.Body(), &body) != nil || body["status"] != "ERROR" || body["code"] != string(e.Code) {
		t.Fatalf("bad error body %s", e.Body())
	}
}

// fuzzVectorsDir is ../shared/uma-vectors/generated, or "" when
// UMA_FUZZ_NO_VECTORS is set (used to grow the checked-in corpus from our
// own seeds only: the shared vectors must not be copied into the repo).
func fuzzVectorsDir() string {
	if os.Getenv("UMA_FUZZ_NO_VECTORS") != "" {
		return ""
	}
	return filepath.Join("..", "..", "shared", "uma-vectors", "generated")
}

// addVectorSeeds adds the shared vector files' bodies (when present) through add.
func addVectorSeeds(f *testing.F, add func(raw json.RawMessage)) {
	dir := fuzzVectorsDir()
	if dir == "" {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // no ../shared: in-code seeds only
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var v struct {
			Body json.RawMessage `json:"body"`
		}
		if json.Unmarshal(b, &v) == nil && len(v.Body) > 0 {
			add(v.Body)
		}
	}
}

func seedPayRequest() *PayRequest {
	k := fuzzKey()
	r := &PayRequest{
		Amount: 1000, SendingCurrency: "USD", ReceivingCurrency: "USD", Comment: "thanks", InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69f9",
		PayerData: &PayerData{Identifier: "$alice@vasp1.com", Name: "Alice", Email: "alice@example.com",
			Compliance: &CompliancePayerData{KycStatus: KycVerified, Utxos: []string{"abc:1"}, NodePubKey: "02ab",
				EncryptedTravelRuleInfo: "00", TravelRuleFormat: "IVMS@101.2023", UtxoCallback: "https://vasp1.com/cb"}},
		PayeeData: UMADataOptions("name"),
	}
	if err := r.Sign(k, fuzzTime); err != nil {
		panic(err)
	}
	return r
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"$bob@vasp2.com", "bob@wallet.example", "$Bob.X+1@Localhost:8080", " $a@b.local ", "$@x", "$a@@b", "$a@b:99999", "$a@[::1]", "$" + string(make([]byte, 70)) + "@a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			checkTypedErr(t, err, CodeInvalidInput)
			return
		}
		// Normalised output re-parses to itself, and builds a URL on the same host.
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("%q → %v → %v %v", s, a, b, err)
		}
		u, err := url.Parse(a.LnurlpURL())
		if err != nil || u.Host != a.Domain {
			t.Fatalf("LnurlpURL %q: %v", a.LnurlpURL(), err)
		}
		if a.UMA {
			if _, err := ParseUMAAddress(s); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseLnurlpRequest(f *testing.F) {
	bob, _ := ParseUMAAddress("$bob@vasp2.com")
	r, err := NewLnurlpRequest(fuzzKey(), bob, "vasp1.com", true, Version1, fuzzTime)
	if err != nil {
		f.Fatal(err)
	}
	r.BackingSignatures = []BackingSignature{AddBackingSignature(fuzzKey(), "backing.com:8443", r.SignablePayload())}
	u, err := r.URL()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		u.String(),
		"https://vasp2.com/.well-known/lnurlp/bob",
		"https://vasp2.com/.well-known/lnurlp/$bob?umaVersion=2.0&signature=x&vaspDomain=vasp1.com&nonce=1&timestamp=1",
		"https://vasp2.com/.well-known/lnurlp/$bob?signature=ab&nonce=1",
		"http://localhost:8080/.well-known/lnurlp/$bob?signature=3044&vaspDomain=localhost:8081&nonce=1&timestamp=99999999999999999999&umaVersion=1.3",
		"https://vasp2.com/.well-known/lnurlp/$bob?%zz",
		"https://vasp2.com/.well-known/lnurlp/$bob?backingSignatures=%3A%2C,a:&signature=1&vaspDomain=a&nonce=1&timestamp=1&umaVersion=1.0",
	} {
		f.Add(s)
	}
	ver := &Verifier{Keys: StaticKeys{"vasp1.com": {Signing: fuzzKey().PublicKey(), Encryption: fuzzKey().PublicKey()}},
		Nonces: NewMemoryNonceCache(time.Time{}), Now: func() time.Time { return fuzzTime }}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return // the HTTP server never hands us such a URL
		}
		isUMA := IsUMALnurlpQuery(u)
		r, err := ParseLnurlpRequest(u)
		if err != nil {
			checkTypedErr(t, err, CodeParseLnurlpRequestError, CodeMissingRequiredUMAParameters, CodeUnsupportedUMAVersion, CodeInvalidTimestamp)
			return
		}
		if r.IsUMA() != isUMA {
			t.Fatalf("IsUMALnurlpQuery %v but parsed IsUMA %v", isUMA, r.IsUMA())
		}
		if !r.IsUMA() {
			return
		}
		if _, err := ver.VerifyLnurlpRequest(context.Background(), r); err != nil {
			checkTypedErr(t, err)
		}
		u2, err := r.URL()
		if err != nil {
			checkTypedErr(t, err)
			return
		}
		r2, err := ParseLnurlpRequest(u2)
		if err != nil || r2.SignablePayload() != r.SignablePayload() || r2.Signature != r.Signature || r2.VaspDomain != r.VaspDomain {
			t.Fatalf("round trip of %q via %q: %+v %v", s, u2, r2, err)
		}
	})
}

func FuzzParsePayRequest(f *testing.F) {
	b, err := json.Marshal(seedPayRequest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	v0 := seedPayRequest()
	v0.V0 = true
	b, _ = json.Marshal(v0)
	f.Add(b)
	for _, s := range []string{`{"amount":100}`, `{"amount":"100.USD","convert":"USD","payerData":null}`, `{"amount":"1.2.3"}`,
		`{"amount":-1}`, `{"amount":1e3}`, `{"amount":"99999999999999999999"}`, `{"amount":"5","currency":"EUR","convert":null}`,
		`{"amount":5,"payerData":{"identifier":7}}`, `{"amount":5,"payerData":{"compliance":{"utxos":null,"signatureTimestamp":"17"}}}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	addVectorSeeds(f, func(raw json.RawMessage) { f.Add([]byte(raw)) })
	currencies := []Currency{{Code: "USD", Multiplier: 34150, Decimals: 2, Convertible: Convertible{1, 10_000_000}},
		{Code: "SAT", Multiplier: 1000, Decimals: 0, Convertible: Convertible{1, 1 << 40}}}
	ver := &Verifier{Keys: StaticKeys{"vasp1.com": {Signing: fuzzKey().PublicKey(), Encryption: fuzzKey().PublicKey()}},
		Nonces: NewMemoryNonceCache(time.Time{}), Now: func() time.Time { return fuzzTime }}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParsePayRequest(body)
		// ParsePayRequest skips json.Unmarshal's own validation pass (and
		// so do the nested payerData/compliance decoders): it must accept
		// and build exactly what json.Unmarshal would.
		var viaJSON PayRequest
		if jerr := json.Unmarshal(body, &viaJSON); (jerr == nil) != (err == nil) {
			t.Fatalf("ParsePayRequest err %v, json.Unmarshal err %v", err, jerr)
		} else if err == nil && !reflect.DeepEqual(*r, viaJSON) {
			t.Fatalf("ParsePayRequest %+v, json.Unmarshal %+v", *r, viaJSON)
		}
		if err != nil {
			checkTypedErr(t, err, CodeParsePayreqRequestError, CodeInvalidCurrency)
			return
		}
		_ = r.SignablePayload()
		_ = DescriptionHash(BuildMetadata("x", "$bob@vasp2.com"), r.PayerDataJSON())
		if q, err := QuotePayRequest(r, currencies, 1, 1<<50, 2000); err != nil {
			checkTypedErr(t, err, CodeInvalidCurrency, CodeAmountOutOfRange)
		} else if q.InvoiceMsats < 0 {
			t.Fatalf("negative invoice %d", q.InvoiceMsats)
		}
		if r.IsUMA() {
			if err := r.CheckMandatoryPayerData(UMADataOptions("name")); err != nil {
				checkTypedErr(t, err)
			}
			if _, err := ver.VerifyPayRequest(context.Background(), r); err != nil {
				checkTypedErr(t, err)
			}
		}
		out, err := json.Marshal(r)
		if err != nil {
			return // e.g. v0 with an amount suffix we cannot express in v0
		}
		r2, err := ParsePayRequest(out)
		if err != nil || r2.Amount != r.Amount || r2.ReceivingCurrency != r.ReceivingCurrency || r2.SignablePayload() != r.SignablePayload() {
			t.Fatalf("round trip %s → %s: %+v %v", body, out, r2, err)
		}
		// The GET form round-trips too.
		r3, err := ParsePayRequestQuery(r.Query(false))
		if err == nil && (r3.Amount != r.Amount || r3.ReceivingCurrency != r.ReceivingCurrency) && !r.V0 {
			t.Fatalf("query round trip %+v → %+v", r, r3)
		}
	})
}

func FuzzParsePayRequestQuery(f *testing.F) {
	f.Add(seedPayRequest().Query(false).Encode())
	f.Add(seedPayRequest().Query(true).Encode())
	f.Add("amount=1000&comment=hi")
	f.Add("amount=1000.USD&convert=USD&payerdata=%7B%22name%22%3A%22x%22%7D")
	f.Add("amount=&settlement=%7B")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		r, err := ParsePayRequestQuery(q)
		if err != nil {
			checkTypedErr(t, err, CodeParsePayreqRequestError)
			return
		}
		r2, err := ParsePayRequestQuery(r.Query(false))
		if err != nil || r2.Amount != r.Amount || r2.SendingCurrency != r.SendingCurrency {
			t.Fatalf("round trip %q: %+v %v", raw, r2, err)
		}
	})
}

func FuzzParseLnurlpResponse(f *testing.F) {
	r := &LnurlpResponse{
		Callback: "https://vasp2.com/payreq/bob", MinSendable: 1000, MaxSendable: 1_000_000_000, CommentAllowed: 255,
		Metadata:   BuildMetadata("Pay $bob", "$bob@vasp2.com"),
		Currencies: []Currency{{Code: "USD", Name: "US Dollar", Symbol: "$", Multiplier: 34150, Decimals: 2, Convertible: Convertible{1, 10_000_000}}},
		PayerData:  UMADataOptions("name", "email"),
		Compliance: &LnurlComplianceResponse{KycStatus: KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: "$bob@vasp2.com"},
		UmaVersion: "1.0",
	}
	if err := r.Sign(fuzzKey(), fuzzTime); err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(r)
	f.Add(b)
	r.UmaVersion = "0.3"
	b, _ = json.Marshal(r)
	f.Add(b)
	for _, s := range []string{`{"status":"ERROR","reason":"nope"}`, `{"callback":"x","minSendable":"5","maxSendable":1.5e3,"tag":"protocol.PayRequest"}`,
		`{"callback":"x","currencies":[{"code":"USD","multiplier":1e400}]}`, `{"callback":"x","currencies":[{"minSendable":0.5,"maxSendable":9e18}]}`,
		`{"callback":"x","payerData":{"a":{"mandatory":"yes"}}}`, `{"callback":"x","maxSendable":-1}`} {
		f.Add([]byte(s))
	}
	addVectorSeeds(f, func(raw json.RawMessage) { f.Add([]byte(raw)) })
	bob, _ := ParseUMAAddress("$bob@vasp2.com")
	ver := &Verifier{Keys: StaticKeys{"vasp2.com": {Signing: fuzzKey().PublicKey(), Encryption: fuzzKey().PublicKey()}},
		Nonces: NewMemoryNonceCache(time.Time{}), Now: func() time.Time { return fuzzTime }}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseLnurlpResponse(body)
		if err != nil {
			if _, isErrorBody := ParseErrorBody(body); isErrorBody {
				if !errors.As(err, new(*Error)) {
					t.Fatalf("untyped %v", err)
				}
				return // the peer's own code, passed through
			}
			checkTypedErr(t, err, CodeParseLnurlpResponseError)
			return
		}
		for i := range r.Currencies {
			if err := r.Currencies[i].Validate(); err != nil {
				checkTypedErr(t, err)
			}
		}
		if r.Compliance != nil {
			if _, err := ver.VerifyLnurlpResponse(context.Background(), r, bob); err != nil {
				checkTypedErr(t, err)
			}
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal %+v: %v", r, err)
		}
		r2, err := ParseLnurlpResponse(out)
		if err != nil || r2.Callback != r.Callback || len(r2.Currencies) != len(r.Currencies) || r2.SignablePayload() != r.SignablePayload() {
			t.Fatalf("round trip %s → %s: %v", body, out, err)
		}
	})
}

func FuzzParsePayReqResponse(f *testing.F) {
	r := &PayReqResponse{
		PR:        "lnbc1...",
		Converted: &Converted{Amount: 1000, CurrencyCode: "USD", Decimals: 2, Multiplier: 34150, Fee: 2000},
		PayeeData: &PayeeData{Identifier: "$bob@vasp2.com", Compliance: &CompliancePayeeData{NodePubKey: "02ab", UtxoCallback: "https://vasp2.com/cb"}},
	}
	if err := r.Sign(fuzzKey(), "$alice@vasp1.com", fuzzTime); err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(r)
	f.Add(b)
	for _, s := range []string{`{"pr":"lnbc","routes":[]}`, `{"status":"ERROR","code":"USER_NOT_FOUND","reason":"x"}`,
		`{"pr":"x","paymentInfo":{"amount":"1","multiplier":"1.5","exchangeFeesMillisatoshi":3}}`, `{"pr":"x","compliance":{"utxos":null}}`,
		`{"pr":"x","converted":{"amount":1e30}}`, `{"pr":"x","disposable":false,"successAction":{"tag":"message"}}`} {
		f.Add([]byte(s))
	}
	addVectorSeeds(f, func(raw json.RawMessage) { f.Add([]byte(raw)) })
	bob, _ := ParseUMAAddress("$bob@vasp2.com")
	ver := &Verifier{Keys: StaticKeys{"vasp2.com": {Signing: fuzzKey().PublicKey(), Encryption: fuzzKey().PublicKey()}},
		Nonces: NewMemoryNonceCache(time.Time{}), Now: func() time.Time { return fuzzTime }}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParsePayReqResponse(body)
		if err != nil {
			if _, isErrorBody := ParseErrorBody(body); isErrorBody {
				if !errors.As(err, new(*Error)) {
					t.Fatalf("untyped %v", err)
				}
				return
			}
			checkTypedErr(t, err, CodeParsePayreqResponseError)
			return
		}
		if r.IsUMA() && !r.V0 {
			if _, err := ver.VerifyPayReqResponse(context.Background(), r, "$alice@vasp1.com", bob); err != nil {
				checkTypedErr(t, err)
			}
		}
		if c := r.Converted; c != nil {
			if _, err := InvoiceMsatsForAmount(c.Amount, c.Multiplier, c.Fee); err != nil {
				checkTypedErr(t, err, CodeAmountOutOfRange, CodeInvalidCurrency)
			}
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		r2, err := ParsePayReqResponse(out)
		if err != nil || r2.PR != r.PR || r2.V0 != r.V0 {
			t.Fatalf("round trip %s → %s: %v", body, out, err)
		}
	})
}

func FuzzParsePostTransactionCallback(f *testing.F) {
	c := &PostTransactionCallback{Utxos: []UtxoWithAmount{{Utxo: "ab:1", AmountMsats: 34152000}}, VaspDomain: "vasp1.com", TransactionStatus: TransactionCompleted}
	c.Sign(fuzzKey(), fuzzTime)
	b, _ := json.Marshal(c)
	f.Add(b)
	for _, s := range []string{`{"utxos":[]}`, `{"utxos":null,"vaspDomain":"a b"}`, `{"utxos":[{"utxo":1,"amount":"5"}],"signatureTimestamp":-1}`,
		`{"utxos":[],"vaspDomain":"v.com","transactionStatus":"FAILED","errorCode":"INTERNAL_ERROR","errorReason":"x"}`} {
		f.Add([]byte(s))
	}
	addVectorSeeds(f, func(raw json.RawMessage) { f.Add([]byte(raw)) })
	ver := &Verifier{Keys: StaticKeys{"vasp1.com": {Signing: fuzzKey().PublicKey(), Encryption: fuzzKey().PublicKey()}},
		Nonces: NewMemoryNonceCache(time.Time{}), Now: func() time.Time { return fuzzTime }}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParsePostTransactionCallback(body)
		if err != nil {
			checkTypedErr(t, err, CodeParseUTXOCallbackError)
			return
		}
		if err := ver.VerifyPostTransactionCallback(context.Background(), c, ""); err != nil {
			checkTypedErr(t, err)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := ParsePostTransactionCallback(out)
		if err != nil || c2.SignablePayload() != c.SignablePayload() || len(c2.Utxos) != len(c.Utxos) {
			t.Fatalf("round trip %s → %s: %v", body, out, err)
		}
	})
}

func FuzzParsePubKeyResponse(f *testing.F) {
	k := fuzzKey()
	cert, err := NewSelfSignedCertificate(k, "vasp1.com", fuzzTime, fuzzTime.AddDate(1, 0, 0))
	if err != nil {
		f.Fatal(err)
	}
	keys := Keys{Signing: k, Encryption: k, SigningCertChain: [][]byte{cert}, EncryptionCertChain: [][]byte{cert}}
	b, _ := json.Marshal(keys.PubKeyResponse(fuzzTime))
	f.Add(b)
	b, _ = json.Marshal(keys.PubKeyResponse(time.Time{}))
	f.Add(b)
	for _, s := range []string{`{"signingPubKey":"04","encryptionPubKey":"zz"}`, `{"signingCertChain":["30"],"encryptionPubKey":"` + k.PublicKey().Hex() + `"}`,
		`{"signingCertChain":[],"signingPubKey":"` + k.PublicKey().Hex() + `","encryptionPubKey":"` + k.PublicKey().Hex() + `","expirationTimestamp":"1e99"}`} {
		f.Add([]byte(s))
	}
	addVectorSeeds(f, func(raw json.RawMessage) { f.Add([]byte(raw)) })
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParsePubKeyResponse(body)
		if err != nil {
			checkTypedErr(t, err, CodeInvalidPubkeyFormat, CodeCertChainInvalid)
			return
		}
		pk, err := r.PublicKeys()
		if err != nil {
			checkTypedErr(t, err, CodeInvalidPubkeyFormat, CodeCertChainInvalid)
			return
		}
		if pk.Signing == nil || pk.Encryption == nil {
			t.Fatal("nil key without error")
		}
	})
}

func FuzzParseCertificatePublicKey(f *testing.F) {
	k := fuzzKey()
	cert, err := NewSelfSignedCertificate(k, "vasp1.com", fuzzTime, fuzzTime.AddDate(1, 0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert)
	f.Add(cert[:len(cert)/2])
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := ParseCertificatePublicKey(der)
		if err != nil {
			checkTypedErr(t, err, CodeCertChainInvalid, CodeInvalidPubkeyFormat)
			return
		}
		if pub == nil {
			t.Fatal("nil key without error")
		}
		_, _, _ = CertificateValidity(der)
	})
}

func FuzzDecodeInvoice(f *testing.F) {
	inv := &Invoice{ReceiverUMA: "$bob@vasp2.com", InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69f9", Amount: 1000,
		ReceivingCurrency: InvoiceCurrency{"USD", "US Dollar", "$", 2}, Expiration: fuzzTime.Unix() + 3600, IsSubjectToTravelRule: true,
		RequiredPayerData: UMADataOptions("name"), UmaVersions: "1.0", CommentCharsAllowed: 255, SenderUMA: "$alice@vasp1.com",
		MaxNumPayments: 1, KycStatus: KycVerified, Callback: "https://vasp2.com/payreq/bob"}
	if err := inv.Sign(fuzzKey()); err != nil {
		f.Fatal(err)
	}
	s, err := inv.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s)
	f.Add("uma://" + s)
	f.Add("uma1qqqqqqqqqq")
	f.Add("UMA1")
	f.Add("lnbc1qqqq")
	if dir := fuzzVectorsDir(); dir != "" {
		for _, name := range []string{"06_uma_invoice_binary.json", "06_uma_invoice_go_ascii.json"} {
			var v struct {
				Bech32 string `json:"bech32"`
			}
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && json.Unmarshal(b, &v) == nil {
				f.Add(v.Bech32)
			}
		}
	}
	ver := &Verifier{Keys: StaticKeys{"vasp2.com": {Signing: fuzzKey().PublicKey(), Encryption: fuzzKey().PublicKey()}},
		Nonces: NewMemoryNonceCache(time.Time{}), Now: func() time.Time { return fuzzTime }}
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := DecodeInvoice(s)
		if err != nil {
			checkTypedErr(t, err, CodeInvalidInvoice, CodeMissingRequiredUMAParameters)
			return
		}
		if _, err := ver.VerifyInvoice(context.Background(), inv); err != nil {
			checkTypedErr(t, err)
		}
		// Whatever decodes re-encodes (same signature bytes) and decodes to the same fields.
		out, err := inv.Encode()
		if err != nil {
			checkTypedErr(t, err)
			return
		}
		inv2, err := DecodeInvoice(out)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		a, b := *inv, *inv2
		a.signable, b.signable = nil, nil
		if a.InvoiceUUID != b.InvoiceUUID || a.Amount != b.Amount || a.Expiration != b.Expiration || a.ReceiverUMA != b.ReceiverUMA ||
			hex.EncodeToString(a.Signature) != hex.EncodeToString(b.Signature) || a.ReceivingCurrency != b.ReceivingCurrency {
			t.Fatalf("re-decode differs:\n%+v\n%+v", a, b)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	k := fuzzKey()
	blob, err := Encrypt(k.PublicKey(), []byte(`{"name":"Alice"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add(blob[:65])
	f.Add([]byte{})
	f.Add(append([]byte{0x02}, blob[1:]...))
	f.Fuzz(func(t *testing.T, blob []byte) {
		if _, err := Decrypt(k, blob); err != nil {
			checkTypedErr(t, err, CodeInvalidInput)
		}
		if _, err := DecryptTravelRuleInfo(k, string(blob)); err != nil {
			checkTypedErr(t, err, CodeInvalidInput)
		}
	})
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{`{"status":"ERROR","reason":"r","code":"UNSUPPORTED_UMA_VERSION","supportedMajorVersions":"[1, 0]"}`,
		`{"status":"ERROR","reason":"r","code":"X","supportedMajorVersions":[1,0]}`, `{"status":"error"}`, `{"supportedMajorVersions":"1,x"}`, `{"status":"OK"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, ok := ParseErrorBody(body)
		if !ok {
			return
		}
		if e == nil {
			t.Fatal("ok with nil error")
		}
		_ = e.Error()
		if _, err := SelectHighestSupportedVersion(e.SupportedMajorVersions); err != nil {
			checkTypedErr(t, err, CodeNoCompatibleUMAVersion, CodeUnsupportedUMAVersion)
		}
	})
}

func FuzzParseConfiguration(f *testing.F) {
	b, _ := json.Marshal(NewConfiguration("vasp2", "https://vasp2.com/api/uma/request"))
	f.Add(b)
	f.Add([]byte(`{"uma_major_versions":"1"}`))
	f.Add([]byte(`{"name":null,"uma_major_versions":[1,0],"uma_request_endpoint":7}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseConfiguration(body)
		if err != nil {
			checkTypedErr(t, err, CodeUMAConfigurationFetchError)
			return
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "0.3", "1.3", "2.0", "1", "01.0", "1.0,0.3", "-1.0", "99999999999999999999.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseVersion(s); err == nil {
			if w, err := ParseVersion(v.String()); err != nil || w != v {
				t.Fatalf("%q → %v → %v %v", s, v, w, err)
			}
		} else {
			checkTypedErr(t, err)
		}
		if _, err := NegotiateVersion(s); err != nil {
			checkTypedErr(t, err, CodeUnsupportedUMAVersion, CodeInvalidInput, CodeParseLnurlpRequestError)
		}
	})
}

// FuzzOptString: for every JSON string literal, optString's shortcut for
// strings without escapes gives what encoding/json decodes.
func FuzzOptString(f *testing.F) {
	for _, s := range []string{`"abc"`, `""`, `"é\u00e9"`, `"a\"b"`, "\"\xff\xfe\"", `"\ud800"`, `"` + strings.Repeat("ab", 600) + `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		if !json.Valid(b) || json.Unmarshal(b, &want) != nil {
			return // not a JSON string: the decoder never hands optString such bytes
		}
		var got optString
		if err := json.Unmarshal(b, &got); err != nil || string(got) != want {
			t.Fatalf("optString %q (%v), encoding/json %q", got, err, want)
		}
	})
}
