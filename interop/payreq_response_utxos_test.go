package interop

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"

	"github.com/vaspd/vaspd/interop/internal/jssdk"
	"github.com/vaspd/vaspd/uma"
)

// The receiver's channel UTXOs (payeeData.compliance.utxos) and "routes"
// (LUD-06, always []): §1.8 and §6.7 #9 — uma-go-sdk writes "utxos": null
// when given none, which the JS SDK refuses; we write [] and read both.
var payeeUtxos = []string{
	"3f1e9a0b2c4d6e8f00112233445566778899aabbccddeeff0011223344556677:0",
	"aa0e9a0b2c4d6e8f00112233445566778899aabbccddeeff0011223344556677:3",
}

// ourPayReqResponseUtxos is ourPayReqResponse with the given utxos.
func ourPayReqResponseUtxos(t testing.TB, utxos []string) []byte {
	t.Helper()
	var r uma.PayReqResponse
	if err := json.Unmarshal(ourPayReqResponse(t, payReqCases[0]), &r); err != nil {
		t.Fatal(err)
	}
	r.PayeeData.Compliance.Utxos = utxos
	if err := r.Sign(vasp2.Keys.Signing, alice, time.Now()); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, r)
}

// wireField returns the raw JSON at path in body.
func wireField(t testing.TB, body []byte, path ...string) string {
	t.Helper()
	raw := json.RawMessage(body)
	for _, k := range path {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s in %s: %v", k, body, err)
		}
		var ok bool
		if raw, ok = m[k]; !ok {
			return ""
		}
	}
	return string(raw)
}

func TestPayReqResponseUtxosRoutes(t *testing.T) {
	t.Run("ours-empty", func(t *testing.T) {
		body := ourPayReqResponseUtxos(t, nil)
		if got := wireField(t, body, "routes"); got != "[]" {
			t.Errorf("routes = %s, want []", got)
		}
		if got := wireField(t, body, "payeeData", "compliance", "utxos"); got != "[]" {
			t.Errorf("payeeData.compliance.utxos = %s, want []", got)
		}
		var got struct{ Verified bool }
		jsCall(t, "verifyPayReqResponse", map[string]any{"json": string(body), "payerIdentifier": alice,
			"payeeIdentifier": bob, "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
		if !got.Verified {
			t.Errorf("JS SDK rejects our empty-utxos response %s", body)
		}
	})

	t.Run("ours→gosdk", func(t *testing.T) {
		body := ourPayReqResponseUtxos(t, payeeUtxos)
		resp, err := sdk.ParsePayReqResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		if err := sdk.VerifyPayReqResponseSignature(resp, sdkPubKey(t, vasp2), noNonceCheck{}, alice, bob); err != nil {
			t.Fatalf("uma-go-sdk rejects our payreq response with utxos: %v", err)
		}
		comp, err := resp.PayeeData.Compliance()
		if err != nil || comp == nil || !slices.Equal(comp.Utxos, payeeUtxos) {
			t.Errorf("uma-go-sdk read utxos %+v, %v", comp, err)
		}
		if resp.Routes == nil || len(resp.Routes) != 0 {
			t.Errorf("uma-go-sdk read routes %v", resp.Routes)
		}
	})

	t.Run("ours→jssdk", func(t *testing.T) {
		body := ourPayReqResponseUtxos(t, payeeUtxos)
		var got struct {
			Verified bool
			Parsed   struct {
				Routes    []any
				PayeeData struct {
					Compliance struct{ Utxos []string }
				}
			}
		}
		jsCall(t, "verifyPayReqResponse", map[string]any{"json": string(body), "payerIdentifier": alice,
			"payeeIdentifier": bob, "pubKeyResponse": vasp2.PubKeyResponseJSON()}, &got)
		if !got.Verified || !slices.Equal(got.Parsed.PayeeData.Compliance.Utxos, payeeUtxos) || got.Parsed.Routes == nil {
			t.Errorf("JS SDK read %+v from %s", got, body)
		}
	})

	// gosdkResponse is uma-go-sdk's answer to our msats PayRequest, with
	// utxos as given (nil: the SDK's nil pointer).
	gosdkResponse := func(t *testing.T, utxos *[]string) []byte {
		req, err := sdk.ParsePayRequest(ourPayRequest(t, payReqCases[1], vasp2.PublicKeys()))
		if err != nil {
			t.Fatal(err)
		}
		code, decimals, rate, fee := "USD", 2, usdMultiplier, receiverFee
		nodePub, cb, payee, key := payeeNodePubKey, payeeCallback, bob, vasp2.SigningKeyBytes()
		resp, err := sdk.GetPayReqResponse(*req, &recordingInvoicer{}, uma.BuildMetadata("Pay to bob", bob),
			&code, &decimals, &rate, &fee, utxos, &nodePub, &cb, nil, &key, &payee, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return mustJSON(t, resp)
	}

	t.Run("gosdk→ours", func(t *testing.T) {
		utxos := slices.Clone(payeeUtxos)
		body := gosdkResponse(t, &utxos)
		if got := wireField(t, body, "routes"); got != "[]" {
			t.Errorf("uma-go-sdk routes = %s", got)
		}
		r, err := ourParseVerifyPayReqResponse(t, body, ourVerifier(t, vasp2.Domain, sdkPubKeyJSON(t, vasp2)))
		if err != nil {
			t.Fatalf("our verify of %s: %v", body, err)
		}
		if !slices.Equal(r.PayeeData.Compliance.Utxos, payeeUtxos) {
			t.Errorf("utxos = %v", r.PayeeData.Compliance.Utxos)
		}
	})

	t.Run("gosdk-null→ours", func(t *testing.T) {
		// Quirk §6.7 #9 (uma-go-sdk v1.5.1): no utxos → "utxos": null.
		body := gosdkResponse(t, nil)
		if got := wireField(t, body, "payeeData", "compliance", "utxos"); got != "null" {
			t.Errorf("uma-go-sdk now writes utxos %s instead of null; update docs/interop.md", got)
		}
		r, err := ourParseVerifyPayReqResponse(t, body, ourVerifier(t, vasp2.Domain, sdkPubKeyJSON(t, vasp2)))
		if err != nil {
			t.Fatalf("we reject uma-go-sdk's utxos:null response %s: %v", body, err)
		}
		if len(r.PayeeData.Compliance.Utxos) != 0 {
			t.Errorf("utxos = %v", r.PayeeData.Compliance.Utxos)
		}
		// The JS SDK refuses that body: the reason we never write null.
		err = js(t).Call("verifyPayReqResponse", map[string]any{"json": string(body), "payerIdentifier": alice,
			"payeeIdentifier": bob, "pubKeyResponse": vasp2.PubKeyResponseJSON()}, nil)
		var jsErr *jssdk.Error
		if !errors.As(err, &jsErr) {
			t.Errorf("the JS SDK accepts utxos:null (%v); update docs/interop.md", err)
		}
	})

	t.Run("jssdk→ours", func(t *testing.T) {
		var out struct{ JSON string }
		jsCall(t, "signPayReqResponse", map[string]any{
			"requestJson": string(ourPayRequest(t, payReqCases[0], vasp2.PublicKeys())), "privateKey": vasp2.SigningKeyHex,
			"pr": testPR, "metadata": uma.BuildMetadata("Pay to bob", bob),
			"multiplier": usdMultiplier, "currencyCode": "USD", "decimals": 2, "feeMsats": receiverFee,
			"utxos": payeeUtxos, "utxoCallback": payeeCallback, "payeeIdentifier": bob,
		}, &out)
		body := []byte(out.JSON)
		if got := wireField(t, body, "routes"); got != "[]" {
			t.Errorf("JS routes = %s", got)
		}
		r, err := ourParseVerifyPayReqResponse(t, body, ourVerifier(t, vasp2.Domain, []byte(vasp2.PubKeyResponseJSON())))
		if err != nil {
			t.Fatalf("our verify of %s: %v", body, err)
		}
		if !slices.Equal(r.PayeeData.Compliance.Utxos, payeeUtxos) || r.PayeeData.Compliance.NodePubKey != "" {
			t.Errorf("compliance = %+v", r.PayeeData.Compliance)
		}
		if !strings.Contains(out.JSON, payeeUtxos[1]) {
			t.Errorf("JS body lacks the utxos: %s", body)
		}
	})
}
