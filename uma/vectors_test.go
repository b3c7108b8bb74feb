package uma

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestErrorTableMatchesProtocol(t *testing.T) {
	var f struct {
		Errors []struct {
			Code           string `json:"code"`
			HTTPStatusCode int    `json:"httpStatusCode"`
			Description    string `json:"description"`
		} `json:"errors"`
	}
	loadVector(t, "public/errors.json", &f)
	if len(f.Errors) != len(errorTable) {
		t.Fatalf("errors.json has %d codes, table has %d", len(f.Errors), len(errorTable))
	}
	for i, e := range f.Errors {
		got := errorTable[i]
		if string(got.code) != e.Code || got.status != e.HTTPStatusCode || got.description != e.Description {
			t.Errorf("row %d: table %+v, errors.json %+v", i, got, e)
		}
		c := ErrorCode(e.Code)
		if !c.Known() || c.HTTPStatus() != e.HTTPStatusCode {
			t.Errorf("%s: HTTPStatus %d", c, c.HTTPStatus())
		}
		body := Errorf(c, "x").Body()
		var parsed map[string]any
		if err := json.Unmarshal(body, &parsed); err != nil || parsed["status"] != "ERROR" || parsed["code"] != e.Code || parsed["reason"] != "x" {
			t.Errorf("%s: body %s", c, body)
		}
	}
}

func TestVectorKeysAndPubKeyResponses(t *testing.T) {
	keys := loadKeys(t)
	src := vectorSource(t)
	for domain, k := range keys {
		priv := mustPriv(t, k.PrivateKeyHex)
		if got := priv.PublicKey().Hex(); got != k.PublicKeyHex {
			t.Errorf("%s: public key %s, want %s", domain, got, k.PublicKeyHex)
		}
		chain, err := ParseCertChainPEM([]byte(k.CertChainPem))
		if err != nil {
			t.Fatalf("%s: %v", domain, err)
		}
		leaf, err := ParseCertificatePublicKey(chain[0])
		if err != nil || leaf.Hex() != k.PublicKeyHex {
			t.Errorf("%s: leaf key %v %v", domain, leaf, err)
		}
		if !src[domain].Signing.Equal(priv.PublicKey()) || !src[domain].Encryption.Equal(priv.PublicKey()) {
			t.Errorf("%s: pubkey response keys differ", domain)
		}
		if src[domain].ExpiresAt.Unix() != 2000000000 {
			t.Errorf("%s: expiry %v", domain, src[domain].ExpiresAt)
		}
		// Our own PubKeyResponse for the same keys and chain reproduces the file.
		own := Keys{Signing: priv, Encryption: priv, SigningCertChain: chain, EncryptionCertChain: chain}
		if err := own.Validate(); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(own.PubKeyResponse(src[domain].ExpiresAt))
		var want, have any
		_ = json.Unmarshal(readVector(t, "generated/pubkey_response_"+strings.TrimSuffix(domain, ".com")+".json"), &want)
		_ = json.Unmarshal(got, &have)
		if !reflect.DeepEqual(want, have) {
			t.Errorf("%s: PubKeyResponse\n got %s", domain, got)
		}
	}
}

func TestVectorLnurlpRequest(t *testing.T) {
	var v struct {
		URL             string `json:"url"`
		ReceiverAddress string `json:"receiverAddress"`
		SignablePayload string `json:"signablePayload"`
		Sha256          string `json:"sha256OfPayloadHex"`
		Signature       string `json:"signature"`
	}
	loadVector(t, "generated/01_lnurlp_request.json", &v)
	u, err := url.Parse(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !IsUMALnurlpQuery(u) {
		t.Fatal("not detected as UMA")
	}
	r, err := ParseLnurlpRequest(u)
	if err != nil {
		t.Fatal(err)
	}
	if r.ReceiverAddress != v.ReceiverAddress || r.SignablePayload() != v.SignablePayload || !r.IsSubjectToTravelRule || r.VaspDomain != "vasp1.com" || r.UmaVersion != "1.0" {
		t.Fatalf("parsed %+v", r)
	}
	h := sha256.Sum256([]byte(r.SignablePayload()))
	if hex.EncodeToString(h[:]) != v.Sha256 {
		t.Fatal("sha256 mismatch")
	}
	ver := vectorVerifier(t)
	if _, err := ver.VerifyLnurlpRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	_, err = ver.VerifyLnurlpRequest(context.Background(), r)
	wantCode(t, err, CodeInvalidNonce) // replay

	// Re-signing with the same nonce and time reproduces the RFC 6979 signature,
	// and URL() rebuilds an URL that parses to the same request.
	keys := loadKeys(t)
	re := *r
	re.Signature = signHex(mustPriv(t, keys["vasp1.com"].PrivateKeyHex), re.SignablePayload())
	if re.Signature != v.Signature {
		t.Errorf("re-signed %s, want %s", re.Signature, v.Signature)
	}
	u2, err := re.URL()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseLnurlpRequest(u2)
	if err != nil || !reflect.DeepEqual(r2, r) {
		t.Fatalf("round trip %+v %v", r2, err)
	}
}

func TestVectorLnurlpResponse(t *testing.T) {
	var v struct {
		SignablePayload string          `json:"signablePayload"`
		Body            json.RawMessage `json:"body"`
	}
	loadVector(t, "generated/02_lnurlp_response.json", &v)
	r, err := ParseLnurlpResponse(v.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsUMA() || r.SignablePayload() != v.SignablePayload || len(r.Currencies) != 2 || r.Currencies[0].Convertible.Max != 10000000 || r.CommentAllowed != 255 {
		t.Fatalf("parsed %+v", r)
	}
	bob, _ := ParseAddress("$bob@vasp2.com")
	ver := vectorVerifier(t)
	if _, err := ver.VerifyLnurlpResponse(context.Background(), r, bob); err != nil {
		t.Fatal(err)
	}
	carol, _ := ParseAddress("$carol@vasp2.com")
	_, err = vectorVerifier(t).VerifyLnurlpResponse(context.Background(), r, carol)
	wantCode(t, err, CodeInvalidSignature)
	assertJSONEqual(t, r, v.Body)

	// Re-sign deterministically.
	sig := r.Compliance.Signature
	r.Compliance.Signature = signHex(mustPriv(t, loadKeys(t)["vasp2.com"].PrivateKeyHex), r.SignablePayload())
	if r.Compliance.Signature != sig {
		t.Errorf("re-signed %s, want %s", r.Compliance.Signature, sig)
	}
}

// assertJSONEqual checks that v marshals to the same JSON value as want.
func assertJSONEqual(t *testing.T, v any, want []byte) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(got, &a)
	_ = json.Unmarshal(want, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

func TestVectorPayRequests(t *testing.T) {
	var lr struct {
		Body json.RawMessage `json:"body"`
	}
	loadVector(t, "generated/02_lnurlp_response.json", &lr)
	lnurlp, err := ParseLnurlpResponse(lr.Body)
	if err != nil {
		t.Fatal(err)
	}
	keys := loadKeys(t)
	for _, tc := range []struct {
		file        string
		amount      int64
		sending     string
		invoiceMsat int64
		converted   int64
	}{
		{"generated/03_payreq_receiving_currency.json", 1000, "USD", 34152000, 1000},
		{"generated/03b_payreq_msats.json", 1000000, "", 1000000, 29},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var v struct {
				SignablePayload string          `json:"signablePayload"`
				Decrypted       string          `json:"decryptedTravelRuleInfo"`
				Body            json.RawMessage `json:"body"`
			}
			loadVector(t, tc.file, &v)
			r, err := ParsePayRequest(v.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !r.IsUMA() || r.Amount != tc.amount || r.SendingCurrency != tc.sending || r.ReceivingCurrency != "USD" || r.SignablePayload() != v.SignablePayload || r.V0 {
				t.Fatalf("parsed %+v", r)
			}
			if _, err := vectorVerifier(t).VerifyPayRequest(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if err := r.CheckMandatoryPayerData(lnurlp.PayerData); err != nil {
				t.Fatal(err)
			}
			q, err := QuotePayRequest(r, lnurlp.Currencies, lnurlp.MinSendable, lnurlp.MaxSendable, 2000)
			if err != nil {
				t.Fatal(err)
			}
			if q.InvoiceMsats != tc.invoiceMsat || q.Converted.Amount != tc.converted {
				t.Fatalf("quote %+v %+v", q, q.Converted)
			}
			if v.Decrypted != "" {
				pt, err := DecryptTravelRuleInfo(mustPriv(t, keys["vasp2.com"].PrivateKeyHex), r.PayerData.Compliance.EncryptedTravelRuleInfo)
				if err != nil || string(pt) != v.Decrypted {
					t.Fatalf("decrypt %q %v", pt, err)
				}
			}
			// payerData raw bytes are kept for the description hash.
			var raw map[string]json.RawMessage
			_ = json.Unmarshal(v.Body, &raw)
			if !bytes.Equal(r.PayerDataJSON(), raw["payerData"]) {
				t.Fatal("payerData raw bytes not preserved")
			}
			assertJSONEqual(t, r, v.Body)
			sig := r.PayerData.Compliance.Signature
			r.PayerData.Compliance.Signature = signHex(mustPriv(t, keys["vasp1.com"].PrivateKeyHex), r.SignablePayload())
			if sig != r.PayerData.Compliance.Signature {
				t.Errorf("re-signed differs")
			}
		})
	}
}

func TestVectorPayReqResponse(t *testing.T) {
	var v struct {
		Expected        int64           `json:"expectedInvoiceAmountMsats"`
		SignablePayload string          `json:"signablePayload"`
		Body            json.RawMessage `json:"body"`
	}
	loadVector(t, "generated/04_payreq_response.json", &v)
	r, err := ParsePayReqResponse(v.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsUMA() || r.V0 || r.Converted.Amount != 1000 || r.Converted.Fee != 2000 {
		t.Fatalf("parsed %+v", r)
	}
	if got := r.SignablePayload("$alice@vasp1.com", r.PayeeData.Identifier); got != v.SignablePayload {
		t.Fatalf("payload %q", got)
	}
	bob, _ := ParseAddress("$bob@vasp2.com")
	if _, err := vectorVerifier(t).VerifyPayReqResponse(context.Background(), r, "$alice@vasp1.com", bob); err != nil {
		t.Fatal(err)
	}
	_, err = vectorVerifier(t).VerifyPayReqResponse(context.Background(), r, "$mallory@vasp1.com", bob)
	wantCode(t, err, CodeInvalidSignature)
	msats, err := InvoiceMsatsForAmount(r.Converted.Amount, r.Converted.Multiplier, r.Converted.Fee)
	if err != nil || msats != v.Expected {
		t.Fatalf("msats %d %v", msats, err)
	}
	assertJSONEqual(t, r, v.Body)

	var m struct {
		Invoice int64 `json:"invoiceAmountMsats"`
		Round   int64 `json:"convertedAmount_round"`
	}
	loadVector(t, "generated/04b_payreq_response_msats_math.json", &m)
	amt, err := ConvertedAmountForMsats(m.Invoice, 34150, 2000)
	if err != nil || amt != m.Round {
		t.Fatalf("converted %d %v", amt, err)
	}
}

func TestVectorPostTransactionCallback(t *testing.T) {
	var v struct {
		SignablePayload string          `json:"signablePayload"`
		Body            json.RawMessage `json:"body"`
	}
	loadVector(t, "generated/05_post_tx_callback.json", &v)
	c, err := ParsePostTransactionCallback(v.Body)
	if err != nil {
		t.Fatal(err)
	}
	if c.SignablePayload() != v.SignablePayload || len(c.Utxos) != 1 || c.Utxos[0].AmountMsats != 34152000 {
		t.Fatalf("parsed %+v", c)
	}
	if err := vectorVerifier(t).VerifyPostTransactionCallback(context.Background(), c, "vasp1.com"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, vectorVerifier(t).VerifyPostTransactionCallback(context.Background(), c, "vasp3.com"), CodeInvalidSignature)
	assertJSONEqual(t, c, v.Body)
}

func TestVectorErrorBodies(t *testing.T) {
	var v map[string]json.RawMessage
	loadVector(t, "generated/07_error_bodies.json", &v)
	_, err := NegotiateVersion("2.0")
	assertJSONEqual(t, AsError(err), v["unsupported_version_412"])
	if AsError(err).HTTPStatus() != 412 {
		t.Fatal("412 expected")
	}
	assertJSONEqual(t, Errorf(CodeInvalidSignature, "invalid uma signature"), v["invalid_signature_401"])
	assertJSONEqual(t, Errorf(CodeUserNotFound, "user not found"), v["user_not_found_404"])
	// Kotlin's string form of supportedMajorVersions.
	e, ok := ParseErrorBody([]byte(`{"status":"ERROR","reason":"r","code":"UNSUPPORTED_UMA_VERSION","supportedMajorVersions":"[1, 0]"}`))
	if !ok || !reflect.DeepEqual(e.SupportedMajorVersions, []int{1, 0}) {
		t.Fatalf("kotlin 412: %+v", e)
	}
}

func TestVectorNegative(t *testing.T) {
	var v map[string]string
	loadVector(t, "generated/08_negative.json", &v)
	for _, name := range []string{"lnurlp_request_signed_with_wrong_key", "lnurlp_request_tampered_receiver"} {
		u, _ := url.Parse(v[name])
		r, err := ParseLnurlpRequest(u)
		if err != nil {
			t.Fatal(err)
		}
		_, err = vectorVerifier(t).VerifyLnurlpRequest(context.Background(), r)
		wantCode(t, err, CodeInvalidSignature)
	}
	pub := vectorSource(t)["vasp1.com"].Signing
	wantCode(t, verifyHex(pub, "$bob@vasp2.com|1234567890|1735689600", v["lnurlp_request_concat_without_pipes_signature"]), CodeInvalidSignature)
	// ...but it is a valid signature of the concatenation (so the vector tests the separator).
	if err := verifyHex(pub, "$bob@vasp2.com12345678901735689600", v["lnurlp_request_concat_without_pipes_signature"]); err != nil {
		t.Fatal("concat signature should verify over the concatenation:", err)
	}
}

func TestVectorECIES(t *testing.T) {
	var v struct {
		RecipientPriv string `json:"recipientPrivateKeyHex"`
		RecipientPub  string `json:"recipientPublicKeyHex"`
		EphPriv       string `json:"ephemeralPrivateKeyHex"`
		Nonce         string `json:"nonceHex"`
		Plaintext     string `json:"plaintext"`
		Ciphertext    string `json:"ciphertextHex"`
	}
	loadVector(t, "generated/ecies_vector.json", &v)
	pub, err := ParsePublicKeyHex(v.RecipientPub)
	if err != nil {
		t.Fatal(err)
	}
	eph, _ := hex.DecodeString(v.EphPriv)
	nonce, _ := hex.DecodeString(v.Nonce)
	blob, err := encryptWith(bytes.NewReader(append(eph, nonce...)), pub, []byte(v.Plaintext))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(blob) != v.Ciphertext {
		t.Fatalf("ciphertext\n got %x\nwant %s", blob, v.Ciphertext)
	}
	pt, err := DecryptTravelRuleInfo(mustPriv(t, v.RecipientPriv), v.Ciphertext)
	if err != nil || string(pt) != v.Plaintext {
		t.Fatalf("decrypt %q %v", pt, err)
	}
	// Tampering anywhere fails with INVALID_INPUT.
	for _, i := range []int{0, 70, 90, len(blob) - 1} {
		bad := append([]byte(nil), blob...)
		bad[i] ^= 1
		_, err := Decrypt(mustPriv(t, v.RecipientPriv), bad)
		wantCode(t, err, CodeInvalidInput)
	}
}
