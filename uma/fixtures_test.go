package uma

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

func loadFixtures(t *testing.T) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	loadVector(t, "public/sdk-fixtures.json", &m)
	return m
}

func fixture(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(loadFixtures(t)[name], v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type invoiceFields struct {
	ReceiverUma       string `json:"receiverUma"`
	InvoiceUUID       string `json:"invoiceUUID"`
	Amount            int64  `json:"amount"`
	ReceivingCurrency struct {
		Code, Name, Symbol string
		Decimals           int
	} `json:"receivingCurrency"`
	Expiration            int64           `json:"expiration"`
	IsSubjectToTravelRule bool            `json:"isSubjectToTravelRule"`
	RequiredPayerData     json.RawMessage `json:"requiredPayerData"`
	UmaVersions           string          `json:"umaVersions"`
	CommentCharsAllowed   *int            `json:"commentCharsAllowed"`
	SenderUma             *string         `json:"senderUma"`
	MaxNumPayments        *int            `json:"maxNumPayments"`
	KycStatus             string          `json:"kycStatus"`
	Callback              string          `json:"callback"`
}

// toInvoice builds an Invoice from fixture fields. requiredPayerData is
// either {"key": bool} (generated) or {"key": {"mandatory": bool}} (public).
func (f invoiceFields) toInvoice(t *testing.T) *Invoice {
	inv := &Invoice{
		ReceiverUMA: f.ReceiverUma, InvoiceUUID: f.InvoiceUUID, Amount: f.Amount,
		ReceivingCurrency: InvoiceCurrency{f.ReceivingCurrency.Code, f.ReceivingCurrency.Name, f.ReceivingCurrency.Symbol, f.ReceivingCurrency.Decimals},
		Expiration:        f.Expiration, IsSubjectToTravelRule: f.IsSubjectToTravelRule, UmaVersions: f.UmaVersions,
		KycStatus: KycStatus(f.KycStatus), Callback: f.Callback,
	}
	if f.CommentCharsAllowed != nil {
		inv.CommentCharsAllowed = *f.CommentCharsAllowed
	}
	if f.SenderUma != nil {
		inv.SenderUMA = *f.SenderUma
	}
	if f.MaxNumPayments != nil {
		inv.MaxNumPayments = *f.MaxNumPayments
	}
	var bools map[string]bool
	if json.Unmarshal(f.RequiredPayerData, &bools) == nil {
		inv.RequiredPayerData = CounterpartyDataOptions{}
		for k, v := range bools {
			inv.RequiredPayerData[k] = CounterpartyDataOption{Mandatory: v}
		}
	} else if err := json.Unmarshal(f.RequiredPayerData, &inv.RequiredPayerData); err != nil {
		t.Fatal(err)
	}
	return inv
}

func sameInvoiceFields(t *testing.T, got, want *Invoice) {
	t.Helper()
	g, w := *got, *want
	g.Signature, w.Signature, g.signable, w.signable = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("invoice fields\n got %+v\nwant %+v", g, w)
	}
}

func TestVectorInvoices(t *testing.T) {
	for _, file := range []string{"generated/06_uma_invoice_binary.json", "generated/06_uma_invoice_go_ascii.json"} {
		t.Run(file, func(t *testing.T) {
			var v struct {
				Fields       invoiceFields `json:"fields"`
				SignableHex  string        `json:"signablePayloadHex"`
				SignatureHex string        `json:"signatureDerHex"`
				TLVHex       string        `json:"tlvHex"`
				Bech32       string        `json:"bech32"`
			}
			loadVector(t, file, &v)
			inv, err := DecodeInvoice(v.Bech32)
			if err != nil {
				t.Fatal(err)
			}
			sameInvoiceFields(t, inv, v.Fields.toInvoice(t))
			p, _ := inv.SignablePayload()
			if hex.EncodeToString(p) != v.SignableHex || hex.EncodeToString(inv.Signature) != v.SignatureHex {
				t.Fatal("signable bytes or signature differ")
			}
			ver := vectorVerifier(t)
			ver.Now = func() time.Time { return time.Unix(1999999999, 0) }
			if _, err := ver.VerifyInvoice(context.Background(), inv); err != nil {
				t.Fatal(err)
			}
			ver.Now = func() time.Time { return time.Unix(2000000000, 0) }
			_, err = ver.VerifyInvoice(context.Background(), inv)
			wantCode(t, err, CodeInvoiceExpired)
			// A decoded invoice re-encodes to the same string, whatever its integer encoding.
			if s, err := inv.Encode(); err != nil || s != v.Bech32 {
				t.Fatalf("re-encode: %v", err)
			}
			if u, _ := inv.URI(); !strings.HasPrefix(u, "uma://uma1") {
				t.Fatal(u)
			}
			if dec, err := DecodeInvoice("uma://" + v.Bech32); err != nil || dec.InvoiceUUID != inv.InvoiceUUID {
				t.Fatal("uma:// prefix", err)
			}
			// Tampering with a field breaks the signature.
			tampered := *inv
			tampered.signable = append([]byte(nil), inv.signable...)
			tampered.signable[len(tampered.signable)-1] ^= 1
			wantCode(t, tampered.Verify(vectorSource(t)["vasp2.com"].Signing), CodeInvalidSignature)
		})
	}
	// Encoding the binary vector's fields and signing reproduces it byte for byte.
	var v struct {
		Fields invoiceFields `json:"fields"`
		Bech32 string        `json:"bech32"`
	}
	loadVector(t, "generated/06_uma_invoice_binary.json", &v)
	inv := v.Fields.toInvoice(t)
	if err := inv.Sign(mustPriv(t, loadKeys(t)["vasp2.com"].PrivateKeyHex)); err != nil {
		t.Fatal(err)
	}
	if s, err := inv.Encode(); err != nil || s != v.Bech32 {
		t.Fatalf("encode: %v\n got %s\nwant %s", err, s, v.Bech32)
	}
}

func TestFixtureReferenceInvoices(t *testing.T) {
	var bin struct {
		Bech32  string `json:"bech32"`
		Decoded struct {
			invoiceFields
			SignatureASCII string `json:"signatureAscii"`
		} `json:"decoded"`
	}
	fixture(t, "invoice_reference_binary", &bin)
	want := bin.Decoded.invoiceFields.toInvoice(t)
	inv, err := DecodeInvoice(bin.Bech32)
	if err != nil {
		t.Fatal(err)
	}
	sameInvoiceFields(t, inv, want)
	if string(inv.Signature) != bin.Decoded.SignatureASCII {
		t.Fatalf("signature %q", inv.Signature)
	}
	// Our encoder reproduces the shared SDK reference string exactly.
	want.signable, err = want.signableBytes()
	if err != nil {
		t.Fatal(err)
	}
	want.Signature = []byte(bin.Decoded.SignatureASCII)
	if s, err := want.Encode(); err != nil || s != bin.Bech32 {
		t.Fatalf("encode %v\n got %s\nwant %s", err, s, bin.Bech32)
	}

	var goASCII struct {
		Bech32 string `json:"bech32"`
	}
	fixture(t, "invoice_reference_go_ascii", &goASCII)
	inv, err = DecodeInvoice(goASCII.Bech32)
	if err != nil {
		t.Fatal(err)
	}
	sameInvoiceFields(t, inv, bin.Decoded.invoiceFields.toInvoice(t))

	var bad struct {
		Bech32 string `json:"bech32"`
	}
	fixture(t, "invoice_malformed_missing_required", &bad)
	_, err = DecodeInvoice(bad.Bech32)
	wantCode(t, err, CodeMissingRequiredUMAParameters)
	for _, name := range []string{"amount", "invoiceUUID", "receiverUma"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestFixtureCounterpartyOptions(t *testing.T) {
	var f struct {
		Input    CounterpartyDataOptions `json:"input"`
		Expected string                  `json:"expectedBytesUtf8"`
	}
	fixture(t, "counterparty_options_tlv_bytes", &f)
	if got := f.Input.encodeInvoiceString(); got != f.Expected {
		t.Fatalf("got %q", got)
	}
	back, err := decodeDataOptionsInvoiceString(f.Expected)
	if err != nil || !reflect.DeepEqual(back, f.Input) {
		t.Fatalf("decode %v %v", back, err)
	}
}

func TestFixtureHighSSignature(t *testing.T) {
	var f struct {
		URL     string `json:"url"`
		PubKey  string `json:"signerPublicKeyHex"`
		Payload string `json:"signablePayload"`
	}
	fixture(t, "high_s_signature_lnurlp_request", &f)
	u, _ := url.Parse(f.URL)
	r, err := ParseLnurlpRequest(u)
	if err != nil {
		t.Fatal(err)
	}
	if r.SignablePayload() != f.Payload {
		t.Fatalf("payload %q", r.SignablePayload())
	}
	der, _ := hex.DecodeString(r.Signature)
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	if s := sig.S(); !s.IsOverHalfOrder() {
		t.Fatal("fixture signature should be high-S")
	}
	pub, _ := ParsePublicKeyHex(f.PubKey)
	ver := &Verifier{Keys: StaticKeys{"api.ltng.bakkt.com": {Signing: pub, Encryption: pub}}, Nonces: NewMemoryNonceCache(time.Unix(1, 0)),
		Now: func() time.Time { return time.Unix(1701461443, 0) }}
	if _, err := ver.VerifyLnurlpRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	// What we emit is always low-S.
	k, _ := GeneratePrivateKey()
	for i := 0; i < 32; i++ {
		sig, _ := ecdsa.ParseDERSignature(SignPayload(k, []byte{byte(i)}))
		if s := sig.S(); s.IsOverHalfOrder() {
			t.Fatal("emitted high-S")
		}
	}
}

func TestFixtureLnurlpRequestParseCases(t *testing.T) {
	var f struct {
		UmaValid    string `json:"uma_valid"`
		ParseExpect struct {
			URL, ReceiverAddress, Signature, Nonce, VaspDomain, UmaVersion string
			IsSubjectToTravelRule                                          bool
			TimestampIso                                                   string
		} `json:"parse_expect"`
		NotUMAMissing   []string `json:"not_uma_missing_param"`
		UMAWithoutTR    string   `json:"uma_without_isSubjectToTravelRule_is_still_uma"`
		NotUMABadPath   []string `json:"not_uma_bad_path"`
		Future412       []string `json:"future_version_is_uma_but_unsupported_412"`
		InvalidUsername []string `json:"invalid_username_must_error"`
	}
	fixture(t, "lnurlp_request_parse_cases", &f)
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return u
	}
	if !IsUMALnurlpQuery(mustURL(f.UmaValid)) {
		t.Error("uma_valid not UMA")
	}
	pe := f.ParseExpect
	r, err := ParseLnurlpRequest(mustURL(pe.URL))
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := time.Parse(time.RFC3339, pe.TimestampIso)
	if r.ReceiverAddress != pe.ReceiverAddress || r.Signature != pe.Signature || r.Nonce != pe.Nonce || r.VaspDomain != pe.VaspDomain ||
		r.UmaVersion != pe.UmaVersion || r.IsSubjectToTravelRule != pe.IsSubjectToTravelRule || r.Timestamp != ts.Unix() {
		t.Fatalf("parsed %+v", r)
	}
	for i, s := range f.NotUMAMissing {
		u := mustURL(s)
		if IsUMALnurlpQuery(u) {
			t.Errorf("%s detected as UMA", s)
		}
		r, err := ParseLnurlpRequest(u)
		if i == len(f.NotUMAMissing)-1 { // no parameters at all: plain LNURL
			if err != nil || r.IsUMA() || r.ReceiverAddress != "bob@vasp2.com" {
				t.Errorf("plain: %+v %v", r, err)
			}
			continue
		}
		wantCode(t, err, CodeMissingRequiredUMAParameters)
	}
	if !IsUMALnurlpQuery(mustURL(f.UMAWithoutTR)) {
		t.Error("missing isSubjectToTravelRule should still be UMA")
	}
	if r, err := ParseLnurlpRequest(mustURL(f.UMAWithoutTR)); err != nil || !r.IsUMA() || r.IsSubjectToTravelRule {
		t.Errorf("%+v %v", r, err)
	}
	for _, s := range f.NotUMABadPath {
		u := mustURL(s)
		if IsUMALnurlpQuery(u) {
			t.Errorf("%s detected as UMA", s)
		}
		_, err := ParseLnurlpRequest(u)
		wantCode(t, err, CodeParseLnurlpRequestError)
	}
	for _, s := range f.Future412 {
		u := mustURL(s)
		if !IsUMALnurlpQuery(u) {
			t.Errorf("%s not UMA", s)
		}
		_, err := ParseLnurlpRequest(u)
		wantCode(t, err, CodeUnsupportedUMAVersion)
		if e := AsError(err); e.HTTPStatus() != 412 || !reflect.DeepEqual(e.SupportedMajorVersions, []int{1, 0}) || e.UnsupportedVersion != "100.0" {
			t.Errorf("412 error %+v", e)
		}
	}
	for _, s := range f.InvalidUsername {
		u, err := url.Parse(s)
		if err != nil {
			continue // rejected even earlier, by the HTTP layer
		}
		_, err = ParseLnurlpRequest(u)
		wantCode(t, err, CodeParseLnurlpRequestError)
	}
}

func TestFixtureAddressValidation(t *testing.T) {
	var f struct {
		Valid   []string `json:"valid"`
		Invalid []string `json:"invalid"`
	}
	fixture(t, "uma_address_validation", &f)
	for _, s := range f.Valid {
		a, err := ParseUMAAddress(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if a.String() != strings.ToLower(s) {
			t.Errorf("%s normalised to %s", s, a)
		}
	}
	for _, s := range f.Invalid {
		if _, err := ParseUMAAddress(s); err == nil {
			t.Errorf("%s accepted", s)
		} else {
			wantCode(t, err, CodeInvalidInput)
		}
	}
}

func TestFixtureLnurlpResponses(t *testing.T) {
	var v1 struct {
		JSON json.RawMessage `json:"json"`
	}
	fixture(t, "lnurlp_response_v1_realworld", &v1)
	r, err := ParseLnurlpResponse(v1.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsUMA() || r.Tag != "payRequest" || r.Currencies[1].Multiplier != 22883.56 || r.Currencies[0].Convertible.Max != 10000000 ||
		r.SignablePayload() != "$jeremy@umav1.jeremykle.in|551781159|1710524382" {
		t.Fatalf("parsed %+v", r)
	}
	var v0 struct {
		Currencies []Currency `json:"currencies"`
	}
	fixture(t, "lnurlp_response_v0_currencies", &v0)
	for i, c := range v0.Currencies {
		if c.Convertible != (Convertible{1, 10000000}) || c.Code != r.Currencies[i].Code {
			t.Errorf("v0 currency %+v", c)
		}
	}
	// The Go SDK's tag is accepted.
	body := strings.Replace(string(v1.JSON), `"payRequest"`, `"protocol.PayRequest"`, 1)
	if r, err := ParseLnurlpResponse([]byte(body)); err != nil || !r.IsUMA() {
		t.Fatal("protocol.PayRequest tag rejected", err)
	}
	// We always emit payRequest, and v0 currencies for a 0.x answer.
	r.Tag = ""
	r.UmaVersion = "0.3"
	out, _ := json.Marshal(r)
	if !strings.Contains(string(out), `"tag":"payRequest"`) || !strings.Contains(string(out), `"minSendable":1,"maxSendable":10000000}`) || strings.Contains(string(out), "convertible") {
		t.Fatalf("v0 marshal %s", out)
	}
}

func TestFixtureV0Compat(t *testing.T) {
	var f struct {
		V0Currency     Currency        `json:"v0_currency"`
		V0Lnurlp       json.RawMessage `json:"v0_lnurlp_response"`
		V0Payreq       json.RawMessage `json:"v0_payreq"`
		V1PayreqEq     json.RawMessage `json:"v1_payreq_equivalent"`
		V0PayreqResp   json.RawMessage `json:"v0_payreq_response"`
		V1PayreqRespEq json.RawMessage `json:"v1_payreq_response_equivalent"`
	}
	fixture(t, "v0_compat_js", &f)
	if f.V0Currency.Convertible != (Convertible{1, 1000}) {
		t.Errorf("fractional v0 min: %+v", f.V0Currency.Convertible)
	}
	lr, err := ParseLnurlpResponse(f.V0Lnurlp)
	if err != nil || lr.UmaVersion != "0.3" || lr.CommentAllowed != 256 || lr.NostrPubkey != "nostrPubkey" {
		t.Fatalf("v0 lnurlp %+v %v", lr, err)
	}
	pr, err := ParsePayRequest(f.V0Payreq)
	if err != nil || !pr.V0 || pr.Amount != 100 || pr.SendingCurrency != "USD" || pr.ReceivingCurrency != "USD" || !pr.IsUMA() ||
		!reflect.DeepEqual(pr.PayerData.Compliance.Utxos, []string{"utxo1", "utxo2"}) {
		t.Fatalf("v0 payreq %+v %v", pr, err)
	}
	assertJSONEqual(t, pr, f.V0Payreq)
	// The fixture's v1 equivalent parses to the same request, but v1.
	var eq json.RawMessage
	if err := json.Unmarshal(f.V1PayreqEq, new(string)); err != nil {
		eq = f.V1PayreqEq // a JSON object
	} else { // a description: derive it from v0_payreq as it says
		var m map[string]any
		_ = json.Unmarshal(f.V0Payreq, &m)
		delete(m, "currency")
		m["amount"], m["convert"] = "100.USD", "USD"
		eq, _ = json.Marshal(m)
	}
	pr1, err := ParsePayRequest(eq)
	if err != nil || pr1.V0 || pr1.Amount != pr.Amount || pr1.SendingCurrency != pr.SendingCurrency || pr1.ReceivingCurrency != pr.ReceivingCurrency ||
		pr1.SignablePayload() != pr.SignablePayload() || !reflect.DeepEqual(pr1.PayerData, pr.PayerData) {
		t.Fatalf("v1 equivalent %+v %v", pr1, err)
	}
	// The v1 equivalent has a string amount and convert.
	pr.V0 = false
	out, _ := json.Marshal(pr)
	if !strings.Contains(string(out), `"amount":"100.USD"`) || !strings.Contains(string(out), `"convert":"USD"`) || strings.Contains(string(out), `"currency"`) {
		t.Fatalf("v1 %s", out)
	}
	resp, err := ParsePayReqResponse(f.V0PayreqResp)
	if err != nil || !resp.V0 || resp.Converted.Fee != 100 || resp.PayeeData.Compliance.UtxoCallback != "https://example.com/utxo-callback" {
		t.Fatalf("v0 response %+v %v", resp, err)
	}
	assertJSONEqual(t, resp, f.V0PayreqResp)
	v1, err := ParsePayReqResponse(f.V1PayreqRespEq)
	if err != nil || v1.V0 || v1.Converted.Amount != 100 {
		t.Fatalf("v1 equivalent %+v %v", v1, err)
	}
	assertJSONEqual(t, v1, f.V1PayreqRespEq)

	var goV0 struct {
		JSON json.RawMessage `json:"json"`
	}
	fixture(t, "v0_payreq_response_go", &goV0)
	resp, err = ParsePayReqResponse(goV0.JSON)
	if err != nil || !resp.V0 || resp.Converted.Fee != 1000 || resp.PayeeData.Compliance.NodePubKey != "02" {
		t.Fatalf("go v0 %+v %v", resp, err)
	}
}

func TestFixturePayRequests(t *testing.T) {
	var rw struct {
		JSON json.RawMessage `json:"json"`
	}
	fixture(t, "realworld_payreq_numeric_amount", &rw)
	r, err := ParsePayRequest(rw.JSON)
	if err != nil || r.V0 || r.Amount != 100 || r.SendingCurrency != "" || r.ReceivingCurrency != "USD" || r.PayerData.Name != "" ||
		r.PayerData.Compliance.TravelRuleFormat != "" || len(r.PayerData.Compliance.Utxos) != 3 {
		t.Fatalf("real-world payreq %+v %v", r, err)
	}
	body := strings.Replace(string(rw.JSON), `"amount": 100`, `"amount": "100.USD"`, 1)
	body = strings.Replace(body, `"amount":100`, `"amount":"100.USD"`, 1)
	if r, err := ParsePayRequest([]byte(body)); err != nil || r.SendingCurrency != "USD" {
		t.Fatalf("string variant %+v %v", r, err)
	}

	var mu struct {
		JSON json.RawMessage `json:"json"`
	}
	fixture(t, "compliance_missing_utxos", &mu)
	var c CompliancePayerData
	if err := json.Unmarshal(mu.JSON, &c); err != nil || len(c.Utxos) != 0 {
		t.Fatal(err)
	}
	out, _ := json.Marshal(c)
	if !strings.Contains(string(out), `"utxos":[]`) {
		t.Fatalf("utxos not emitted as []: %s", out)
	}

	var non struct {
		JSON []json.RawMessage `json:"json"`
	}
	fixture(t, "non_uma_payreq", &non)
	for _, b := range non.JSON {
		r, err := ParsePayRequest(b)
		if err != nil || r.IsUMA() || r.Amount != 100 || !r.IsAmountInMsats() || r.PayerData != nil {
			t.Fatalf("non-UMA %s: %+v %v", b, r, err)
		}
	}

	var uv struct {
		JSON       json.RawMessage `json:"json"`
		HTTPStatus int             `json:"httpStatus"`
	}
	fixture(t, "unsupported_version_error_go", &uv)
	e, ok := ParseErrorBody(uv.JSON)
	if !ok || e.Code != CodeUnsupportedUMAVersion || e.HTTPStatus() != uv.HTTPStatus || !reflect.DeepEqual(e.SupportedMajorVersions, []int{0, 1}) {
		t.Fatalf("%+v", e)
	}
	if v, err := SelectHighestSupportedVersion(e.SupportedMajorVersions); err != nil || v != Version1 {
		t.Fatal(v, err)
	}
}

func TestFixtureSecondKeyECIES(t *testing.T) {
	var f struct {
		Priv     string          `json:"privateKeyHex"`
		Pub      string          `json:"publicKeyUncompressedHex"`
		Response json.RawMessage `json:"pubKeyResponseJson"`
	}
	fixture(t, "test_key_and_cert_2", &f)
	r, err := ParsePubKeyResponse(f.Response)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := r.PublicKeys()
	if err != nil || keys.Encryption.Hex() != f.Pub || !keys.ExpiresAt.IsZero() {
		t.Fatalf("%v %v", keys, err)
	}
	ct, err := EncryptTravelRuleInfo(keys.Encryption, []byte(`{"name":"Alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := DecryptTravelRuleInfo(mustPriv(t, f.Priv), ct)
	if err != nil || string(pt) != `{"name":"Alice"}` {
		t.Fatal(pt, err)
	}

	var k1 struct {
		Chain []string `json:"certChainHexDer"`
		PEM   string   `json:"certChainPem"`
		Leaf  string   `json:"leafPublicKeyUncompressedHex"`
	}
	fixture(t, "test_key_and_cert", &k1)
	chain, err := ParseCertChainPEM([]byte(k1.PEM))
	if err != nil || len(chain) != len(k1.Chain) || len(chain) != 2 {
		t.Fatalf("chain %d %v", len(chain), err)
	}
	for i := range chain {
		if hex.EncodeToString(chain[i]) != k1.Chain[i] {
			t.Errorf("cert %d differs", i)
		}
	}
	// The key is the leaf's (the issuer, RSA-signed, certifies another key).
	leaf, err := ParseCertificatePublicKey(chain[0])
	if err != nil || leaf.Hex() != k1.Leaf {
		t.Fatal(leaf, err)
	}
	if issuer, err := ParseCertificatePublicKey(chain[1]); err != nil || issuer.Equal(leaf) {
		t.Fatal(issuer, err)
	}
}
