package interop

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"

	"github.com/vaspd/vaspd/uma"
)

const (
	// testPR stands in for the BOLT11 invoice: no SDK decodes "pr" when
	// parsing, and neither do we at this layer.
	testPR          = "lnbc341520n1pjtestinvoiceplaceholder"
	receiverFee     = int64(2000) // msats
	payeeCallback   = "https://vasp2.com/api/uma/utxoCallback?txid=def456"
	payeeNodePubKey = "03a34b99f22c790c4e36b2b3c2c35a36db06226e41c692fc82b8b56ac1c540c5bd"
)

// wantAmounts is the amount math of uma-protocol.md §3 for c: the msats the
// invoice must carry and converted.amount.
func wantAmounts(c payReqCase) (msats, converted int64) {
	if c.sendingCurrency != "" {
		return int64(math.Round(float64(c.amount)*usdMultiplier)) + receiverFee, c.amount
	}
	return c.amount, int64(math.Round(float64(c.amount-receiverFee) / usdMultiplier))
}

// ourPayReqResponse answers vasp1's PayRequest the way our receiver does:
// parse it, quote it against what bob's LnurlpResponse offered, sign.
func ourPayReqResponse(t testing.TB, c payReqCase) []byte {
	t.Helper()
	req, err := uma.ParsePayRequest(ourPayRequest(t, c, vasp2.PublicKeys()))
	if err != nil {
		t.Fatal(err)
	}
	q, err := uma.QuotePayRequest(req, []uma.Currency{usd}, 1_000, 10_000_000_000, receiverFee)
	if err != nil {
		t.Fatalf("QuotePayRequest: %v", err)
	}
	if wantMsats, _ := wantAmounts(c); q.InvoiceMsats != wantMsats {
		t.Fatalf("our quote invoices %d msats, want %d", q.InvoiceMsats, wantMsats)
	}
	disposable := true
	r := &uma.PayReqResponse{
		PR:        testPR,
		Converted: q.Converted,
		PayeeData: &uma.PayeeData{
			Identifier: bob, Name: "Bob Receiver",
			Compliance: &uma.CompliancePayeeData{NodePubKey: payeeNodePubKey, UtxoCallback: payeeCallback},
		},
		Disposable: &disposable,
	}
	if err := r.Sign(vasp2.Keys.Signing, req.PayerData.Identifier, time.Now()); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, r)
}

// ourParseVerifyPayReqResponse is our sender's side.
func ourParseVerifyPayReqResponse(t testing.TB, body []byte, v *uma.Verifier) (*uma.PayReqResponse, error) {
	t.Helper()
	r, err := uma.ParsePayReqResponse(body)
	if err != nil {
		t.Fatalf("ParsePayReqResponse(%s): %v", body, err)
	}
	_, err = v.VerifyPayReqResponse(context.Background(), r, alice, mustAddress(t, bob))
	return r, err
}

func checkOurPayReqResponse(t *testing.T, c payReqCase, r *uma.PayReqResponse) {
	t.Helper()
	_, converted := wantAmounts(c)
	if r.PR != testPR || !r.IsUMA() || r.V0 {
		t.Fatalf("pr/IsUMA/V0 = %q/%v/%v", r.PR, r.IsUMA(), r.V0)
	}
	want := uma.Converted{Amount: converted, CurrencyCode: "USD", Decimals: 2, Multiplier: usdMultiplier, Fee: receiverFee}
	if *r.Converted != want {
		t.Errorf("converted = %+v, want %+v", *r.Converted, want)
	}
	if r.PayeeData.Compliance.UtxoCallback != payeeCallback || r.PayeeData.Compliance.NodePubKey != payeeNodePubKey {
		t.Errorf("payee compliance = %+v", r.PayeeData.Compliance)
	}
}

func TestPayReqResponse(t *testing.T) {
	for _, c := range payReqCases {
		wantMsats, _ := wantAmounts(c)
		t.Run(c.name, func(t *testing.T) {
			t.Run("gosdk→ours", func(t *testing.T) {
				// The Go SDK receiver parses our PayRequest and answers it.
				req, err := sdk.ParsePayRequest(ourPayRequest(t, c, vasp2.PublicKeys()))
				if err != nil {
					t.Fatal(err)
				}
				inv := &recordingInvoicer{}
				code, decimals, rate, fee := "USD", 2, usdMultiplier, receiverFee
				nodePub, cb, payee := payeeNodePubKey, payeeCallback, bob
				key := vasp2.SigningKeyBytes()
				// receiverChannelUtxos nil, as a node-pubkey-only receiver passes:
				// the SDK then emits "utxos": null (§6.7 #9).
				resp, err := sdk.GetPayReqResponse(*req, inv, uma.BuildMetadata("Pay to bob", bob),
					&code, &decimals, &rate, &fee, nil, &nodePub, &cb, nil, &key, &payee, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if inv.amountMsats != wantMsats {
					t.Errorf("uma-go-sdk invoiced %d msats, want %d", inv.amountMsats, wantMsats)
				}
				body := mustJSON(t, resp)
				if !strings.Contains(string(body), `"utxos":null`) {
					t.Errorf("uma-go-sdk no longer emits utxos:null (§6.7 #9); update docs/interop.md: %s", body)
				}
				v := ourVerifier(t, vasp2.Domain, sdkPubKeyJSON(t, vasp2))
				r, err := ourParseVerifyPayReqResponse(t, body, v)
				if err != nil {
					t.Fatalf("our verify of uma-go-sdk payreq response %s: %v", body, err)
				}
				checkOurPayReqResponse(t, c, r)
				if r.PayeeData.Identifier != bob {
					t.Errorf("payeeData.identifier = %q", r.PayeeData.Identifier)
				}
				_, err = ourParseVerifyPayReqResponse(t, body, v)
				wantCode(t, err, uma.CodeInvalidNonce)
				_, err = ourParseVerifyPayReqResponse(t, body, wrongVerifier(t, vasp2.Domain))
				wantCode(t, err, uma.CodeInvalidSignature)
			})

			t.Run("ours→gosdk", func(t *testing.T) {
				body := ourPayReqResponse(t, c)
				if strings.Contains(string(body), "null") || strings.Contains(string(body), "exchangeFeesMillisatoshi") {
					t.Errorf("we emitted null or the fee alias: %s", body)
				}
				resp, err := sdk.ParsePayReqResponse(body)
				if err != nil {
					t.Fatalf("uma-go-sdk ParsePayReqResponse(%s): %v", body, err)
				}
				if !resp.IsUmaResponse() {
					t.Fatalf("uma-go-sdk does not see an UMA response in %s", body)
				}
				if err := sdk.VerifyPayReqResponseSignature(resp, sdkPubKey(t, vasp2), noNonceCheck{}, alice, bob); err != nil {
					t.Fatalf("uma-go-sdk rejects our payreq response: %v", err)
				}
				_, converted := wantAmounts(c)
				pi := resp.PaymentInfo
				if pi.Amount == nil || *pi.Amount != converted || pi.CurrencyCode != "USD" || pi.Multiplier != usdMultiplier ||
					pi.Decimals != 2 || pi.ExchangeFeesMillisatoshi != receiverFee || resp.EncodedInvoice != testPR {
					t.Errorf("uma-go-sdk read %+v", pi)
				}
				if err := sdk.VerifyPayReqResponseSignature(resp, sdkPubKey(t, vasp1), noNonceCheck{}, alice, bob); err == nil {
					t.Fatal("uma-go-sdk verified our payreq response with the wrong key")
				}
			})

			t.Run("jssdk→ours", func(t *testing.T) {
				var out struct {
					JSON               string
					InvoiceAmountMsats int64
				}
				jsCall(t, "signPayReqResponse", map[string]any{
					"requestJson": string(ourPayRequest(t, c, vasp2.PublicKeys())), "privateKey": vasp2.SigningKeyHex,
					"pr": testPR, "metadata": uma.BuildMetadata("Pay to bob", bob),
					"multiplier": usdMultiplier, "currencyCode": "USD", "decimals": 2, "feeMsats": receiverFee,
					"nodePubKey": payeeNodePubKey, "utxoCallback": payeeCallback, "payeeIdentifier": bob,
					// Like many JS VASPs, leave identifier out of payeeData: the JS
					// SDK does not add it, so we must fall back to the address we paid.
					"payeeData": map[string]any{"name": "Bob Receiver"},
				}, &out)
				if out.InvoiceAmountMsats != wantMsats {
					t.Errorf("JS SDK invoiced %d msats, want %d", out.InvoiceAmountMsats, wantMsats)
				}
				v := ourVerifier(t, vasp2.Domain, []byte(vasp2.PubKeyResponseJSON()))
				r, err := ourParseVerifyPayReqResponse(t, []byte(out.JSON), v)
				if err != nil {
					t.Fatalf("our verify of JS payreq response %s: %v", out.JSON, err)
				}
				checkOurPayReqResponse(t, c, r)
				_, err = ourParseVerifyPayReqResponse(t, []byte(out.JSON), wrongVerifier(t, vasp2.Domain))
				wantCode(t, err, uma.CodeInvalidSignature)
			})

			t.Run("ours→jssdk", func(t *testing.T) {
				body := ourPayReqResponse(t, c)
				var got struct {
					Verified, IsUma bool
					Parsed          struct {
						PR        string
						Converted struct {
							Amount, Fee  int64
							CurrencyCode string
							Multiplier   float64
						}
					}
				}
				jsCall(t, "verifyPayReqResponse", map[string]any{"json": string(body), "payerIdentifier": alice,
					"payeeIdentifier": bob, "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
				_, converted := wantAmounts(c)
				if !got.Verified || !got.IsUma {
					t.Fatalf("JS SDK: verified=%v isUma=%v for %s", got.Verified, got.IsUma, body)
				}
				if got.Parsed.PR != testPR || got.Parsed.Converted.Amount != converted || got.Parsed.Converted.Fee != receiverFee ||
					got.Parsed.Converted.Multiplier != usdMultiplier {
					t.Errorf("JS parsed %+v", got.Parsed)
				}
				jsCall(t, "verifyPayReqResponse", map[string]any{"json": string(body), "payerIdentifier": alice,
					"payeeIdentifier": bob, "pubKeyResponse": vasp1.PubKeyResponseJSON()}, &got)
				if got.Verified {
					t.Fatal("JS SDK verified our payreq response with the wrong key")
				}
			})
		})
	}
}

// recordingInvoicer is the Go SDK's InvoiceCreator: it records what the SDK
// asked for and returns testPR.
type recordingInvoicer struct {
	amountMsats int64
	metadata    string
}

func (r *recordingInvoicer) CreateInvoice(amountMsats int64, metadata string, _ *string) (*string, error) {
	r.amountMsats, r.metadata = amountMsats, metadata
	pr := testPR
	return &pr, nil
}

// The BOLT11 description of a payment that settles an UMA invoice hashes
// metadata + ["text/uma-invoice", uuid] + payerData (LUD-18, §1.11). A JS
// receiver's metadata for our PayRequest must be exactly what our
// MetadataWithInvoiceUUID and PayerDataJSON produce, so either side can
// recompute the other's description hash. (uma-go-sdk never sees the UUID:
// it drops invoiceUUID when parsing, §6.7 #3.)
func TestInvoiceDescriptionMetadata(t *testing.T) {
	body := ourPayRequest(t, payReqCases[0], vasp2.PublicKeys())
	metadata := uma.BuildMetadata("Pay to bob", bob)
	var out struct{ InvoiceMetadata string }
	jsCall(t, "signPayReqResponse", map[string]any{
		"requestJson": string(body), "privateKey": vasp2.SigningKeyHex, "pr": testPR, "metadata": metadata,
		"multiplier": usdMultiplier, "currencyCode": "USD", "decimals": 2, "feeMsats": receiverFee,
		"utxoCallback": payeeCallback, "payeeIdentifier": bob,
	}, &out)
	withUUID, err := uma.MetadataWithInvoiceUUID(metadata, testInvoiceUUID)
	if err != nil {
		t.Fatal(err)
	}
	req, err := uma.ParsePayRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	// The metadata part is byte-identical; the payerData part is the same
	// JSON value re-serialised in the JS schema's key order (which is why
	// no sender can check the description hash, and none does).
	rest, ok := strings.CutPrefix(out.InvoiceMetadata, withUUID)
	if !ok {
		t.Fatalf("JS receiver's metadata\n %s\ndoes not start with ours\n %s", out.InvoiceMetadata, withUUID)
	}
	var theirs, ours any
	if err := json.Unmarshal([]byte(rest), &theirs); err != nil {
		t.Fatalf("JS payerData part %q: %v", rest, err)
	}
	if err := json.Unmarshal(req.PayerDataJSON(), &ours); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(theirs, ours) {
		t.Errorf("JS payerData part\n %s\ndiffers from ours\n %s", rest, req.PayerDataJSON())
	}
}
