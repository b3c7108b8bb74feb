package interop

import (
	"context"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/uma"
)

// ECDSA signatures come in pairs (r, s) and (r, N−s) that verify alike.
// We emit only the low-S one (s ≤ N/2) and accept both (§2.2, §6.7 #16):
// uma-go-sdk emits high-S about half the time, libsecp256k1 (the JS SDK)
// always low-S.

// signedMessage is one of our signed wire messages and its three checkers.
type signedMessage struct {
	name string
	wire string // URL or JSON body
	sig  string // hex DER signature inside wire
	// ours, gosdk verify wire; js reports the JS SDK's verdict.
	ours, gosdk func(t *testing.T, wire string) error
	js          func(t *testing.T, wire string) bool
}

// ourSignedMessages signs one of each signed message with our package.
func ourSignedMessages(t *testing.T) []signedMessage {
	t.Helper()
	lnurlpReq := ourLnurlpRequest(t).String()
	lnurlpResp := string(ourLnurlpResponse(t, parsedOurRequest(t)))
	payReq := string(ourPayRequest(t, payReqCases[0], vasp2.PublicKeys()))
	payReqResp := string(ourPayReqResponse(t, payReqCases[0]))
	postTx := string(ourPostTx(t))
	u, _ := url.Parse(lnurlpReq)

	return []signedMessage{
		{
			name: "lnurlp-request", wire: lnurlpReq, sig: u.Query().Get("signature"),
			ours: func(t *testing.T, w string) error {
				_, err := ourParseVerifyLnurlpRequest(t, w, ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON())))
				return err
			},
			gosdk: func(t *testing.T, w string) error {
				u, _ := url.Parse(w)
				r, err := sdk.ParseLnurlpRequest(*u)
				if err != nil {
					return err
				}
				return sdk.VerifyUmaLnurlpQuerySignature(*r.AsUmaRequest(), sdkPubKey(t, vasp1), noNonceCheck{})
			},
			js: func(t *testing.T, w string) bool {
				return jsVerifiedOp(t, "verifyLnurlpRequest", map[string]any{"url": w, "pubKeyResponse": vasp1.PubKeyResponseJSON()})
			},
		},
		{
			name: "lnurlp-response", wire: lnurlpResp, sig: wireString(t, lnurlpResp, "compliance", "signature"),
			ours: func(t *testing.T, w string) error {
				_, err := ourParseVerifyLnurlpResponse(t, []byte(w), ourVerifier(t, vasp2.Domain, []byte(vasp2.PubKeyResponseJSON())))
				return err
			},
			gosdk: func(t *testing.T, w string) error {
				r, err := sdk.ParseLnurlpResponse([]byte(w))
				if err != nil {
					return err
				}
				return sdk.VerifyUmaLnurlpResponseSignature(*r.AsUmaResponse(), sdkPubKey(t, vasp2), noNonceCheck{})
			},
			js: func(t *testing.T, w string) bool {
				return jsVerifiedOp(t, "verifyLnurlpResponse", map[string]any{"json": w, "pubKeyResponse": vasp2.PubKeyResponseJSON()})
			},
		},
		{
			name: "payreq", wire: payReq, sig: wireString(t, payReq, "payerData", "compliance", "signature"),
			ours: func(t *testing.T, w string) error {
				_, _, err := ourParseVerifyPayRequest(t, []byte(w), ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON())))
				return err
			},
			gosdk: func(t *testing.T, w string) error {
				r, err := sdk.ParsePayRequest([]byte(w))
				if err != nil {
					return err
				}
				return sdk.VerifyPayReqSignature(r, sdkPubKey(t, vasp1), noNonceCheck{})
			},
			js: func(t *testing.T, w string) bool {
				return jsVerifiedOp(t, "verifyPayRequest", map[string]any{"json": w, "pubKeyResponse": vasp1.PubKeyResponseJSON()})
			},
		},
		{
			name: "payreq-response", wire: payReqResp, sig: wireString(t, payReqResp, "payeeData", "compliance", "signature"),
			ours: func(t *testing.T, w string) error {
				_, err := ourParseVerifyPayReqResponse(t, []byte(w), ourVerifier(t, vasp2.Domain, []byte(vasp2.PubKeyResponseJSON())))
				return err
			},
			gosdk: func(t *testing.T, w string) error {
				r, err := sdk.ParsePayReqResponse([]byte(w))
				if err != nil {
					return err
				}
				return sdk.VerifyPayReqResponseSignature(r, sdkPubKey(t, vasp2), noNonceCheck{}, alice, bob)
			},
			js: func(t *testing.T, w string) bool {
				return jsVerifiedOp(t, "verifyPayReqResponse", map[string]any{"json": w, "payerIdentifier": alice,
					"payeeIdentifier": bob, "pubKeyResponse": vasp2.PubKeyResponseJSON()})
			},
		},
		{
			name: "post-tx", wire: postTx, sig: wireString(t, postTx, "signature"),
			ours: func(t *testing.T, w string) error {
				_, err := ourParseVerifyPostTx(t, []byte(w), ourVerifier(t, vasp1.Domain, []byte(vasp1.PubKeyResponseJSON())))
				return err
			},
			gosdk: func(t *testing.T, w string) error {
				c, err := sdk.ParsePostTransactionCallback([]byte(w))
				if err != nil {
					return err
				}
				return sdk.VerifyPostTransactionCallbackSignature(c, sdkPubKey(t, vasp1), noNonceCheck{})
			},
			js: func(t *testing.T, w string) bool {
				return jsVerifiedOp(t, "verifyPostTx", map[string]any{"json": w, "pubKeyResponse": vasp1.PubKeyResponseJSON()})
			},
		},
	}
}

// jsVerifiedOp runs a JS verify op and returns its "verified".
func jsVerifiedOp(t *testing.T, op string, args map[string]any) bool {
	t.Helper()
	var got struct{ Verified bool }
	jsCall(t, op, args, &got)
	return got.Verified
}

// wireString is the JSON string at path in body.
func wireString(t testing.TB, body string, path ...string) string {
	t.Helper()
	raw := wireField(t, []byte(body), path...)
	if len(raw) < 2 || raw[0] != '"' {
		t.Fatalf("%v in %s is not a string", path, body)
	}
	return raw[1 : len(raw)-1]
}

// flipS returns the other signature of the pair: (r, N−s), DER hex.
func flipS(t testing.TB, sigHex string) string {
	t.Helper()
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(mustHex(t, sigHex), &sig); err != nil || len(rest) != 0 {
		t.Fatalf("parse DER %s: %v", sigHex, err)
	}
	sig.S = new(big.Int).Sub(curveN, sig.S)
	der, err := asn1.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(der)
}

func TestSignatureS(t *testing.T) {
	t.Run("ours-emit-low-S", func(t *testing.T) {
		// 32 rounds of every message: a signer that did not normalise
		// would be caught with probability 1 − 2^-32 per message type.
		for range 32 {
			for _, m := range ourSignedMessages(t) {
				if isHighS(t, mustHex(t, m.sig)) {
					t.Fatalf("%s: we emitted a high-S signature %s", m.name, m.sig)
				}
			}
			inv, err := uma.DecodeInvoice(ourInvoice(t, time.Now().Add(time.Hour).Unix()))
			if err != nil {
				t.Fatal(err)
			}
			if isHighS(t, inv.Signature) {
				t.Fatalf("invoice: we emitted a high-S signature %x", inv.Signature)
			}
		}
	})

	// Every message signed by us, its signature swapped for the high-S twin:
	// we accept it (liberal reader), and so do both SDKs.
	t.Run("high-S-accepted", func(t *testing.T) {
		for _, m := range ourSignedMessages(t) {
			t.Run(m.name, func(t *testing.T) {
				high := flipS(t, m.sig)
				if !isHighS(t, mustHex(t, high)) {
					t.Fatal("flipS did not produce a high-S signature")
				}
				wire := strings.Replace(m.wire, m.sig, high, 1)
				if wire == m.wire {
					t.Fatal("signature not found in the wire form")
				}
				if err := m.ours(t, wire); err != nil {
					t.Errorf("we reject the high-S twin: %v", err)
				}
				if err := m.gosdk(t, wire); err != nil {
					t.Errorf("uma-go-sdk rejects the high-S twin: %v", err)
				}
				// Negative control: the high-S twin with one bit of S changed.
				b := mustHex(t, high)
				b[len(b)-1] ^= 1
				bad := strings.Replace(m.wire, m.sig, hex.EncodeToString(b), 1)
				if err := m.ours(t, bad); err == nil {
					t.Errorf("we accept a corrupted signature")
				}
				if err := m.gosdk(t, bad); err == nil {
					t.Errorf("uma-go-sdk accepts a corrupted signature")
				}
				if !m.js(t, wire) {
					t.Errorf("the JS SDK rejects the high-S twin")
				}
				if m.js(t, bad) {
					t.Errorf("the JS SDK accepts a corrupted signature")
				}
			})
		}
	})

	t.Run("jssdk-emits-low-S", func(t *testing.T) {
		for range 8 {
			var out struct{ URL string }
			jsCall(t, "signLnurlpRequest", map[string]any{
				"privateKey": vasp1.SigningKeyHex, "receiverAddress": bob,
				"senderVaspDomain": vasp1.Domain, "isSubjectToTravelRule": true,
			}, &out)
			u, err := url.Parse(out.URL)
			if err != nil {
				t.Fatal(err)
			}
			if isHighS(t, mustHex(t, u.Query().Get("signature"))) {
				t.Fatalf("the JS SDK emitted a high-S signature: %s", out.URL)
			}
		}
	})

	// uma-go-sdk's invoices are high-S half the time, like its messages
	// (TestLnurlpRequest): collect both kinds and verify all.
	t.Run("gosdk-invoice-high-S→ours", func(t *testing.T) {
		v := ourVerifier(t, vasp2.Domain, sdkPubKeyJSON(t, vasp2))
		exp := uint64(time.Now().Add(time.Hour).Unix())
		var high, low int
		for i := 0; i < 64 && (high == 0 || low == 0); i++ {
			inv, err := sdk.CreateUmaInvoice(bob, 1000, sdkprotocol.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
				exp, payreqCallback, true, nil, nil, nil, nil, nil, vasp2.SigningKeyBytes())
			if err != nil {
				t.Fatal(err)
			}
			s, err := inv.ToBech32String()
			if err != nil {
				t.Fatal(err)
			}
			got, err := uma.DecodeInvoice(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.VerifyInvoice(context.Background(), got); err != nil {
				t.Fatalf("our verify of uma-go-sdk invoice (high-S=%v): %v", isHighS(t, got.Signature), err)
			}
			if isHighS(t, got.Signature) {
				high++
			} else {
				low++
			}
		}
		if high == 0 || low == 0 {
			t.Fatalf("64 uma-go-sdk invoices: %d high-S, %d low-S; has it started normalising? update docs/interop.md", high, low)
		}
	})
}
