package interop

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	eciesgo "github.com/ecies/go/v2"
	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/uma"
)

const (
	travelRuleInfo  = `{"originator":{"name":"Alice Sender","accountNumber":"123"}}`
	payerCallback   = "https://vasp1.com/api/uma/utxoCallback?txid=abc123"
	payerNodePubKey = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	testInvoiceUUID = "a6b7c8d9-0123-4567-89ab-cdef01234567"
)

// payReqCase is one of the two UX modes (uma-protocol.md §3.2).
type payReqCase struct {
	name            string
	amount          int64
	sendingCurrency string // "" = msats (sender-locked)
}

var payReqCases = []payReqCase{
	{"receiving-currency", 1000, "USD"},
	{"msats", 1_000_000, ""},
}

// ourPayRequest builds and signs vasp1's PayRequest to bob, with travel-rule
// info encrypted to the key in bob's pubkey response as we parsed it.
func ourPayRequest(t testing.TB, c payReqCase, receiverKeys *uma.PublicKeys) []byte {
	t.Helper()
	tr, err := uma.EncryptTravelRuleInfo(receiverKeys.Encryption, []byte(travelRuleInfo))
	if err != nil {
		t.Fatal(err)
	}
	r := &uma.PayRequest{
		Amount: c.amount, SendingCurrency: c.sendingCurrency, ReceivingCurrency: "USD",
		PayerData: &uma.PayerData{
			Identifier: alice, Name: "Alice Sender", Email: "alice@vasp1.com",
			Compliance: &uma.CompliancePayerData{
				KycStatus: uma.KycVerified, NodePubKey: payerNodePubKey, UtxoCallback: payerCallback,
				EncryptedTravelRuleInfo: tr, TravelRuleFormat: "IVMS@101.2023",
			},
		},
		PayeeData:   uma.UMADataOptions("name"),
		Comment:     "thanks bob",
		InvoiceUUID: testInvoiceUUID,
	}
	if err := r.Sign(vasp1.Keys.Signing, time.Now()); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, r)
}

// ourParseVerifyPayRequest is our receiver's side: parse, verify with the
// keys of the payer's domain, decrypt the travel-rule info.
func ourParseVerifyPayRequest(t testing.TB, body []byte, v *uma.Verifier) (*uma.PayRequest, string, error) {
	t.Helper()
	r, err := uma.ParsePayRequest(body)
	if err != nil {
		t.Fatalf("ParsePayRequest(%s): %v", body, err)
	}
	if _, err := v.VerifyPayRequest(context.Background(), r); err != nil {
		return r, "", err
	}
	var tr []byte
	if enc := r.PayerData.Compliance.EncryptedTravelRuleInfo; enc != "" {
		tr, err = uma.DecryptTravelRuleInfo(vasp2.Keys.Encryption, enc)
		if err != nil {
			t.Fatalf("DecryptTravelRuleInfo: %v", err)
		}
	}
	return r, string(tr), nil
}

func checkOurPayRequest(t *testing.T, c payReqCase, r *uma.PayRequest, tr string) {
	t.Helper()
	if r.Amount != c.amount || r.SendingCurrency != c.sendingCurrency || r.ReceivingCurrency != "USD" {
		t.Errorf("amount = %d %q → %q, want %d %q → USD", r.Amount, r.SendingCurrency, r.ReceivingCurrency, c.amount, c.sendingCurrency)
	}
	if !r.IsUMA() || r.PayerData.Identifier != alice || r.PayerData.Name != "Alice Sender" {
		t.Errorf("payerData = %+v", r.PayerData)
	}
	pc := r.PayerData.Compliance
	if pc.KycStatus != uma.KycVerified || pc.UtxoCallback != payerCallback || pc.NodePubKey != payerNodePubKey {
		t.Errorf("compliance = %+v", pc)
	}
	if tr != travelRuleInfo {
		t.Errorf("travel-rule info = %q, want %q", tr, travelRuleInfo)
	}
	if err := r.CheckMandatoryPayerData(uma.UMADataOptions("name")); err != nil {
		t.Errorf("CheckMandatoryPayerData: %v", err)
	}
	if !r.PayeeData[uma.DataIdentifier].Mandatory || !r.PayeeData[uma.DataCompliance].Mandatory {
		t.Errorf("payeeData options = %+v", r.PayeeData)
	}
}

func TestPayRequest(t *testing.T) {
	for _, c := range payReqCases {
		t.Run(c.name, func(t *testing.T) {
			t.Run("gosdk→ours", func(t *testing.T) {
				bobKeys := sdkPubKey(t, vasp2) // bob's document as the SDK read it
				encKey, err := bobKeys.EncryptionPubKey()
				if err != nil {
					t.Fatal(err)
				}
				name, email, tr, comment, uuid := "Alice Sender", "alice@vasp1.com", travelRuleInfo, "thanks bob", testInvoiceUUID
				nodePub := payerNodePubKey
				version := "101.2023"
				req, err := sdk.GetUmaPayRequestWithInvoice(c.amount, encKey, vasp1.SigningKeyBytes(), "USD",
					c.sendingCurrency != "", alice, 1, &name, &email, &tr,
					&sdkprotocol.TravelRuleFormat{Type: "IVMS", Version: &version},
					sdkprotocol.KycStatusVerified, &[]string{}, &nodePub, payerCallback, nil, &comment, &uuid)
				if err != nil {
					t.Fatal(err)
				}
				body := mustJSON(t, req)
				v := ourVerifier(t, vasp1.Domain, sdkPubKeyJSON(t, vasp1))
				r, gotTR, err := ourParseVerifyPayRequest(t, body, v)
				if err != nil {
					t.Fatalf("our verify of uma-go-sdk payreq %s: %v", body, err)
				}
				checkOurPayRequest(t, c, r, gotTR)
				if r.PayerData.Compliance.TravelRuleFormat != "IVMS@101.2023" {
					t.Errorf("travelRuleFormat = %q", r.PayerData.Compliance.TravelRuleFormat)
				}
				// Quirk §6.7 #3: uma-go-sdk drops invoiceUUID when marshalling
				// v1, so a Go-SDK sender paying an UMA invoice never says which.
				if r.InvoiceUUID != "" || strings.Contains(string(body), "invoiceUUID") {
					t.Errorf("uma-go-sdk now sends invoiceUUID %q; update docs/interop.md", r.InvoiceUUID)
				}
				_, _, err = ourParseVerifyPayRequest(t, body, v)
				wantCode(t, err, uma.CodeInvalidNonce)
				_, _, err = ourParseVerifyPayRequest(t, body, wrongVerifier(t, vasp1.Domain))
				wantCode(t, err, uma.CodeInvalidSignature)
			})

			t.Run("ours→gosdk", func(t *testing.T) {
				body := ourPayRequest(t, c, ourKeys(t, sdkPubKeyJSON(t, vasp2)))
				req, err := sdk.ParsePayRequest(body)
				if err != nil {
					t.Fatalf("uma-go-sdk ParsePayRequest(%s): %v", body, err)
				}
				if !req.IsUmaRequest() {
					t.Fatalf("uma-go-sdk does not see an UMA payreq in %s", body)
				}
				if err := sdk.VerifyPayReqSignature(req, sdkPubKey(t, vasp1), noNonceCheck{}); err != nil {
					t.Fatalf("uma-go-sdk rejects our payreq: %v", err)
				}
				sending := ""
				if req.SendingAmountCurrencyCode != nil {
					sending = *req.SendingAmountCurrencyCode
				}
				if req.Amount != c.amount || sending != c.sendingCurrency || *req.ReceivingCurrencyCode != "USD" ||
					*req.PayerData.Identifier() != alice {
					t.Errorf("uma-go-sdk read amount %d %q → %q from %s", req.Amount, sending, *req.ReceivingCurrencyCode, body)
				}
				// Quirk §6.7 #3, receiving side: the SDK's v1 parser drops the
				// invoiceUUID we send.
				if req.InvoiceUUID != nil {
					t.Errorf("uma-go-sdk now parses invoiceUUID; update docs/interop.md")
				}
				comp, err := req.PayerData.Compliance()
				if err != nil || comp == nil {
					t.Fatalf("uma-go-sdk compliance: %v", err)
				}
				// The Go SDK has no decrypt helper; a Go receiver uses ecies/go,
				// the library the SDK encrypts with.
				ct := mustHex(t, *comp.EncryptedTravelRuleInfo)
				pt, err := eciesgo.Decrypt(eciesgo.NewPrivateKeyFromBytes(vasp2.Keys.Encryption.Bytes()), ct)
				if err != nil || string(pt) != travelRuleInfo {
					t.Errorf("ecies/go decrypt of our travel-rule info: %q, %v", pt, err)
				}
				if err := sdk.VerifyPayReqSignature(req, sdkPubKey(t, vasp2), noNonceCheck{}); err == nil {
					t.Fatal("uma-go-sdk verified our payreq with the wrong key")
				}
			})

			t.Run("jssdk→ours", func(t *testing.T) {
				var out struct{ JSON string }
				jsCall(t, "signPayRequest", map[string]any{
					"amount": c.amount, "receivingCurrencyCode": "USD", "isAmountInReceivingCurrency": c.sendingCurrency != "",
					"receiverEncryptionPubKey": ourKeys(t, []byte(vasp2.PubKeyResponseJSON())).Encryption.Hex(),
					"privateKey":               vasp1.SigningKeyHex, "payerIdentifier": alice,
					"payerName": "Alice Sender", "payerEmail": "alice@vasp1.com",
					"trInfo": travelRuleInfo, "travelRuleFormat": "IVMS@101.2023", "kycStatus": "VERIFIED",
					"nodePubKey": payerNodePubKey, "utxoCallback": payerCallback,
					"requestedPayeeData": map[string]any{"name": map[string]bool{"mandatory": false},
						"identifier": map[string]bool{"mandatory": true}, "compliance": map[string]bool{"mandatory": true}},
					"comment": "thanks bob", "invoiceUUID": testInvoiceUUID,
				}, &out)
				v := ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON()))
				r, gotTR, err := ourParseVerifyPayRequest(t, []byte(out.JSON), v)
				if err != nil {
					t.Fatalf("our verify of JS payreq %s: %v", out.JSON, err)
				}
				checkOurPayRequest(t, c, r, gotTR)
				if r.InvoiceUUID != testInvoiceUUID || r.Comment != "thanks bob" {
					t.Errorf("invoiceUUID/comment = %q/%q", r.InvoiceUUID, r.Comment)
				}
				_, _, err = ourParseVerifyPayRequest(t, []byte(out.JSON), wrongVerifier(t, vasp1.Domain))
				wantCode(t, err, uma.CodeInvalidSignature)
			})

			t.Run("ours→jssdk", func(t *testing.T) {
				body := ourPayRequest(t, c, ourKeys(t, []byte(vasp2.PubKeyResponseJSON())))
				var got struct {
					Verified, IsUma           bool
					Amount                    int64
					SendingAmountCurrencyCode string
					ReceivingCurrencyCode     string
					InvoiceUUID               string
					PayerData                 struct {
						Identifier string
						Compliance struct{ EncryptedTravelRuleInfo string }
					}
				}
				jsCall(t, "verifyPayRequest", map[string]any{"json": string(body), "pubKeyResponse": vasp1.PubKeyResponseJSON()}, &got)
				if !got.Verified || !got.IsUma {
					t.Fatalf("JS SDK: verified=%v isUma=%v for %s", got.Verified, got.IsUma, body)
				}
				if got.Amount != c.amount || got.SendingAmountCurrencyCode != c.sendingCurrency || got.ReceivingCurrencyCode != "USD" ||
					got.InvoiceUUID != testInvoiceUUID || got.PayerData.Identifier != alice {
					t.Errorf("JS parsed %+v", got)
				}
				var pt struct{ Plaintext string }
				jsCall(t, "decrypt", map[string]any{"privateKey": vasp2.EncryptionKeyHex, "hex": got.PayerData.Compliance.EncryptedTravelRuleInfo}, &pt)
				if pt.Plaintext != travelRuleInfo {
					t.Errorf("eciesjs decrypt of our travel-rule info = %q", pt.Plaintext)
				}
				jsCall(t, "verifyPayRequest", map[string]any{"json": string(body), "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
				if got.Verified {
					t.Fatal("JS SDK verified our payreq with the wrong key")
				}
			})
		})
	}
}

// Quirk §6.7 #8 (uma-go-sdk v1.5.1): a travelRuleFormat without a version
// marshals as an unquoted word, so a Go-SDK sender cannot even build the
// request (encoding/json rejects the invalid JSON). With a version it is
// "IVMS@101.2023", which we read (TestPayRequest); we emit the same form.
func TestPayRequestTravelRuleFormatQuirk(t *testing.T) {
	bobKeys := sdkPubKey(t, vasp2)
	encKey, err := bobKeys.EncryptionPubKey()
	if err != nil {
		t.Fatal(err)
	}
	tr := travelRuleInfo
	req, err := sdk.GetUmaPayRequest(1000, encKey, vasp1.SigningKeyBytes(), "USD", true, alice, 1, nil, nil, &tr,
		&sdkprotocol.TravelRuleFormat{Type: "IVMS"}, sdkprotocol.KycStatusVerified, &[]string{}, nil, payerCallback, nil, nil)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(req); err == nil {
			t.Errorf("uma-go-sdk now marshals a versionless travelRuleFormat (%s); update docs/interop.md", b)
		}
	}
	t.Logf("uma-go-sdk with a versionless travelRuleFormat: %v", err)

	// Ours: a versionless format is a plain JSON string, read back intact.
	r := &uma.PayRequest{Amount: 1000, SendingCurrency: "USD", ReceivingCurrency: "USD", PayerData: &uma.PayerData{
		Identifier: alice, Compliance: &uma.CompliancePayerData{KycStatus: uma.KycVerified, TravelRuleFormat: "IVMS"},
	}}
	if err := r.Sign(vasp1.Keys.Signing, time.Now()); err != nil {
		t.Fatal(err)
	}
	body := mustJSON(t, r)
	got, err := sdk.ParsePayRequest(body)
	if err != nil {
		t.Fatalf("uma-go-sdk ParsePayRequest(%s): %v", body, err)
	}
	comp, err := got.PayerData.Compliance()
	if err != nil || comp == nil || comp.TravelRuleFormat == nil || comp.TravelRuleFormat.Type != "IVMS" {
		t.Errorf("uma-go-sdk read travelRuleFormat %+v, %v from %s", comp, err, body)
	}
}
