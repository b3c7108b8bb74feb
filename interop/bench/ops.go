package bench

import (
	"encoding/hex"
	"encoding/json"
	"net/url"
	"testing"

	eciesgo "github.com/ecies/go/v2"
	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkprotocol "github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/uma"
)

// threeOps is the usual sign / verify / parse_verify triple of a message.
func threeOps(msg string, sign, verify, parseVerify [2]func(b *testing.B)) []Op {
	return []Op{
		{msg + "/sign", sign[0], sign[1]},
		{msg + "/verify", verify[0], verify[1]},
		{msg + "/parse_verify", parseVerify[0], parseVerify[1]},
	}
}

func (e *env) lnurlpRequestOps() ([]Op, error) {
	ours, err := uma.NewLnurlpRequest(e.v1.Keys.Signing, e.receiverAddr, e.v1.Domain, true, uma.Version1, e.now)
	if err != nil {
		return nil, err
	}
	u, err := ours.URL()
	if err != nil {
		return nil, err
	}
	raw := u.String()
	sdkReq, err := sdk.ParseLnurlpRequest(*u)
	if err != nil {
		return nil, err
	}
	sdkUma := *sdkReq.AsUmaRequest()
	return threeOps("lnurlp_request",
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := uma.NewLnurlpRequest(e.v1.Keys.Signing, e.receiverAddr, e.v1.Domain, true, uma.Version1, e.now)
					check(b, err)
					_, err = r.URL()
					check(b, err)
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					_, err := sdk.GetSignedLnurlpRequestUrl(e.v1.SigningKeyBytes(), bob, e.v1.Domain, true, nil)
					check(b, err)
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					check(b, ours.Verify(e.v1Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					check(b, sdk.VerifyUmaLnurlpQuerySignature(sdkUma, e.sdkV1, noNonceCheck{}))
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					u, err := url.Parse(raw)
					check(b, err)
					r, err := uma.ParseLnurlpRequest(u)
					check(b, err)
					check(b, r.Verify(e.v1Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					u, err := url.Parse(raw)
					check(b, err)
					r, err := sdk.ParseLnurlpRequest(*u)
					check(b, err)
					check(b, sdk.VerifyUmaLnurlpQuerySignature(*r.AsUmaRequest(), e.sdkV1, noNonceCheck{}))
				}
			},
		}), nil
}

func (e *env) ourLnurlpResponse() (*uma.LnurlpResponse, error) {
	r := &uma.LnurlpResponse{
		Callback: callback, MinSendable: 1_000, MaxSendable: 10_000_000_000, Metadata: e.metadata,
		Currencies: []uma.Currency{e.usd},
		PayerData:  uma.UMADataOptions("name", "email"),
		Compliance: &uma.LnurlComplianceResponse{KycStatus: uma.KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: bob},
		UmaVersion: "1.0", CommentAllowed: 255,
	}
	return r, r.Sign(e.v2.Keys.Signing, e.now)
}

func (e *env) lnurlpResponseOps() ([]Op, error) {
	ours, err := e.ourLnurlpResponse()
	if err != nil {
		return nil, err
	}
	body, err := mustJSON(ours)
	if err != nil {
		return nil, err
	}
	sdkResp, err := sdk.ParseLnurlpResponse(body)
	if err != nil {
		return nil, err
	}
	sdkUma := *sdkResp.AsUmaResponse()
	u, err := url.Parse("https://vasp2.com/.well-known/lnurlp/$bob?" + e.lnurlpQuery())
	if err != nil {
		return nil, err
	}
	sdkReq, err := sdk.ParseLnurlpRequest(*u)
	if err != nil {
		return nil, err
	}
	return threeOps("lnurlp_response",
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := e.ourLnurlpResponse()
					check(b, err)
					_, err = json.Marshal(r)
					check(b, err)
				}
			},
			func(b *testing.B) {
				key, tr, kyc, comment := e.v2.SigningKeyBytes(), true, sdkprotocol.KycStatusVerified, 255
				currencies := []sdkprotocol.Currency{e.sdkUSD}
				for b.Loop() {
					r, err := sdk.GetLnurlpResponse(*sdkReq, callback, e.metadata, 1, 10_000_000, &key, &tr,
						&e.sdkPayerOpts, &currencies, &kyc, &comment, nil)
					check(b, err)
					_, err = json.Marshal(r)
					check(b, err)
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					check(b, ours.Verify(e.v2Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					check(b, sdk.VerifyUmaLnurlpResponseSignature(sdkUma, e.sdkV2, noNonceCheck{}))
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := uma.ParseLnurlpResponse(body)
					check(b, err)
					check(b, r.Verify(e.v2Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					r, err := sdk.ParseLnurlpResponse(body)
					check(b, err)
					check(b, sdk.VerifyUmaLnurlpResponseSignature(*r.AsUmaResponse(), e.sdkV2, noNonceCheck{}))
				}
			},
		}), nil
}

// lnurlpQuery is a signed LNURLP query string from vasp1 (for the SDK's
// GetLnurlpResponse input).
func (e *env) lnurlpQuery() string {
	r, err := uma.NewLnurlpRequest(e.v1.Keys.Signing, e.receiverAddr, e.v1.Domain, true, uma.Version1, e.now)
	if err != nil {
		panic(err) // fixed valid inputs
	}
	u, err := r.URL()
	if err != nil {
		panic(err)
	}
	return u.RawQuery
}

func (e *env) ourPayRequest() (*uma.PayRequest, error) {
	tr, err := uma.EncryptTravelRuleInfo(e.v2Enc, []byte(trInfo))
	if err != nil {
		return nil, err
	}
	r := &uma.PayRequest{
		Amount: 1000, SendingCurrency: "USD", ReceivingCurrency: "USD",
		PayerData: &uma.PayerData{Identifier: alice, Compliance: &uma.CompliancePayerData{
			KycStatus: uma.KycVerified, NodePubKey: nodePub, UtxoCallback: utxoCB,
			EncryptedTravelRuleInfo: tr, TravelRuleFormat: "IVMS@101.2023",
		}},
		PayeeData: uma.UMADataOptions("name"),
	}
	return r, r.Sign(e.v1.Keys.Signing, e.now)
}

func (e *env) payRequestOps() ([]Op, error) {
	ours, err := e.ourPayRequest()
	if err != nil {
		return nil, err
	}
	body, err := mustJSON(ours)
	if err != nil {
		return nil, err
	}
	sdkReq, err := sdk.ParsePayRequest(body)
	if err != nil {
		return nil, err
	}
	return threeOps("payreq",
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := e.ourPayRequest()
					check(b, err)
					_, err = json.Marshal(r)
					check(b, err)
				}
			},
			func(b *testing.B) {
				tr, node, version := trInfo, nodePub, "101.2023"
				format := &sdkprotocol.TravelRuleFormat{Type: "IVMS", Version: &version}
				for b.Loop() {
					r, err := sdk.GetUmaPayRequest(1000, e.sdkV2EncKey, e.v1.SigningKeyBytes(), "USD", true, alice, 1,
						nil, nil, &tr, format, sdkprotocol.KycStatusVerified, &[]string{}, &node, utxoCB, &e.sdkPayeeOpts, nil)
					check(b, err)
					_, err = json.Marshal(r)
					check(b, err)
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					check(b, ours.Verify(e.v1Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					check(b, sdk.VerifyPayReqSignature(sdkReq, e.sdkV1, noNonceCheck{}))
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := uma.ParsePayRequest(body)
					check(b, err)
					check(b, r.Verify(e.v1Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					r, err := sdk.ParsePayRequest(body)
					check(b, err)
					check(b, sdk.VerifyPayReqSignature(r, e.sdkV1, noNonceCheck{}))
				}
			},
		}), nil
}

// ourPayReqResponse quotes req and signs the answer, as our receiver does.
func (e *env) ourPayReqResponse(req *uma.PayRequest) (*uma.PayReqResponse, error) {
	q, err := uma.QuotePayRequest(req, []uma.Currency{e.usd}, 1_000, 10_000_000_000, feeMsats)
	if err != nil {
		return nil, err
	}
	r := &uma.PayReqResponse{
		PR: invoicePR, Converted: q.Converted,
		PayeeData: &uma.PayeeData{Identifier: bob, Compliance: &uma.CompliancePayeeData{NodePubKey: nodePub, UtxoCallback: utxoCB}},
	}
	return r, r.Sign(e.v2.Keys.Signing, alice, e.now)
}

func (e *env) payReqResponseOps() ([]Op, error) {
	req, err := e.ourPayRequest()
	if err != nil {
		return nil, err
	}
	reqBody, err := mustJSON(req)
	if err != nil {
		return nil, err
	}
	parsedReq, err := uma.ParsePayRequest(reqBody)
	if err != nil {
		return nil, err
	}
	sdkReq, err := sdk.ParsePayRequest(reqBody)
	if err != nil {
		return nil, err
	}
	ours, err := e.ourPayReqResponse(parsedReq)
	if err != nil {
		return nil, err
	}
	body, err := mustJSON(ours)
	if err != nil {
		return nil, err
	}
	sdkResp, err := sdk.ParsePayReqResponse(body)
	if err != nil {
		return nil, err
	}
	return threeOps("payreq_response",
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := e.ourPayReqResponse(parsedReq)
					check(b, err)
					_, err = json.Marshal(r)
					check(b, err)
				}
			},
			func(b *testing.B) {
				code, decimals, r, fee := "USD", 2, rate, feeMsats
				node, cb, payee, key := nodePub, utxoCB, bob, e.v2.SigningKeyBytes()
				for b.Loop() {
					resp, err := sdk.GetPayReqResponse(*sdkReq, fixedInvoicer{}, e.metadata, &code, &decimals, &r, &fee,
						&[]string{}, &node, &cb, nil, &key, &payee, nil, nil)
					check(b, err)
					_, err = json.Marshal(resp)
					check(b, err)
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					check(b, ours.Verify(e.v2Pub, alice, bob))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					check(b, sdk.VerifyPayReqResponseSignature(sdkResp, e.sdkV2, noNonceCheck{}, alice, bob))
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					r, err := uma.ParsePayReqResponse(body)
					check(b, err)
					check(b, r.Verify(e.v2Pub, alice, bob))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					r, err := sdk.ParsePayReqResponse(body)
					check(b, err)
					check(b, sdk.VerifyPayReqResponseSignature(r, e.sdkV2, noNonceCheck{}, alice, bob))
				}
			},
		}), nil
}

func (e *env) postTxOps() ([]Op, error) {
	ours := &uma.PostTransactionCallback{Utxos: e.postTxUtxos, VaspDomain: e.v1.Domain}
	ours.Sign(e.v1.Keys.Signing, e.now)
	body, err := mustJSON(ours)
	if err != nil {
		return nil, err
	}
	sdkCB, err := sdk.ParsePostTransactionCallback(body)
	if err != nil {
		return nil, err
	}
	return threeOps("post_tx_callback",
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					c := &uma.PostTransactionCallback{Utxos: e.postTxUtxos, VaspDomain: e.v1.Domain}
					c.Sign(e.v1.Keys.Signing, e.now)
					_, err := json.Marshal(c)
					check(b, err)
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					c, err := sdk.GetPostTransactionCallback(e.sdkPostTxUtxos, e.v1.Domain, e.v1.SigningKeyBytes())
					check(b, err)
					_, err = json.Marshal(c)
					check(b, err)
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					check(b, ours.Verify(e.v1Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					check(b, sdk.VerifyPostTransactionCallbackSignature(sdkCB, e.sdkV1, noNonceCheck{}))
				}
			},
		},
		[2]func(*testing.B){
			func(b *testing.B) {
				for b.Loop() {
					c, err := uma.ParsePostTransactionCallback(body)
					check(b, err)
					check(b, c.Verify(e.v1Pub))
				}
			},
			func(b *testing.B) {
				for b.Loop() {
					c, err := sdk.ParsePostTransactionCallback(body)
					check(b, err)
					check(b, sdk.VerifyPostTransactionCallbackSignature(c, e.sdkV1, noNonceCheck{}))
				}
			},
		}), nil
}

func (e *env) pubKeyOps() ([]Op, error) {
	body := []byte(e.v2.PubKeyResponseJSON()) // certificate chains and hex keys
	return []Op{{
		Name: "pubkey_response/parse",
		Ours: func(b *testing.B) {
			for b.Loop() {
				r, err := uma.ParsePubKeyResponse(body)
				check(b, err)
				_, err = r.PublicKeys()
				check(b, err)
			}
		},
		SDK: func(b *testing.B) {
			for b.Loop() {
				var r sdkprotocol.PubKeyResponse
				check(b, json.Unmarshal(body, &r))
				_, err := r.SigningPubKey()
				check(b, err)
				_, err = r.EncryptionPubKey()
				check(b, err)
			}
		},
	}}, nil
}

// eciesOps compares with ecies/go, which uma-go-sdk encrypts with (its
// encryptTrInfo is unexported; it is NewPublicKeyFromBytes + Encrypt + hex)
// and which its users decrypt with (the SDK has no decrypt helper).
func (e *env) eciesOps() ([]Op, error) {
	ct, err := uma.EncryptTravelRuleInfo(e.v2Enc, []byte(trInfo))
	if err != nil {
		return nil, err
	}
	encKey := e.v2.Keys.Encryption
	goPriv := eciesgo.NewPrivateKeyFromBytes(encKey.Bytes())
	return []Op{
		{
			Name: "ecies/encrypt",
			Ours: func(b *testing.B) {
				for b.Loop() {
					_, err := uma.EncryptTravelRuleInfo(e.v2Enc, []byte(trInfo))
					check(b, err)
				}
			},
			SDK: func(b *testing.B) {
				for b.Loop() {
					pub, err := eciesgo.NewPublicKeyFromBytes(e.sdkV2EncKey)
					check(b, err)
					c, err := eciesgo.Encrypt(pub, []byte(trInfo))
					check(b, err)
					_ = hex.EncodeToString(c)
				}
			},
		},
		{
			Name: "ecies/decrypt",
			Ours: func(b *testing.B) {
				for b.Loop() {
					_, err := uma.DecryptTravelRuleInfo(encKey, ct)
					check(b, err)
				}
			},
			SDK: func(b *testing.B) {
				for b.Loop() {
					raw, err := hex.DecodeString(ct)
					check(b, err)
					_, err = eciesgo.Decrypt(goPriv, raw)
					check(b, err)
				}
			},
		},
	}, nil
}

func (e *env) ourInvoice() (string, error) {
	inv := uma.Invoice{
		ReceiverUMA: bob, InvoiceUUID: "a6b7c8d9-0123-4567-89ab-cdef01234567", Amount: 1000,
		ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
		Expiration:        e.now.Unix() + 3600, IsSubjectToTravelRule: true,
		RequiredPayerData: uma.UMADataOptions("name"), UmaVersions: "1.0", KycStatus: uma.KycVerified, Callback: callback,
	}
	if err := inv.Sign(e.v2.Keys.Signing); err != nil {
		return "", err
	}
	return inv.Encode()
}

func (e *env) invoiceOps() ([]Op, error) {
	ours, err := e.ourInvoice()
	if err != nil {
		return nil, err
	}
	opts := sdkprotocol.CounterPartyDataOptions{"identifier": {Mandatory: true}, "compliance": {Mandatory: true}, "name": {}}
	kyc := sdkprotocol.KycStatusVerified
	sdkCur := sdkprotocol.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2}
	exp := uint64(e.now.Unix() + 3600)
	newSDK := func() (string, error) {
		inv, err := sdk.CreateUmaInvoice(bob, 1000, sdkCur, exp, callback, true, &opts, nil, &kyc, nil, nil, e.v2.SigningKeyBytes())
		if err != nil {
			return "", err
		}
		return inv.ToBech32String()
	}
	theirs, err := newSDK()
	if err != nil {
		return nil, err
	}
	return []Op{
		{
			Name: "invoice/create",
			Ours: func(b *testing.B) {
				for b.Loop() {
					_, err := e.ourInvoice()
					check(b, err)
				}
			},
			SDK: func(b *testing.B) {
				for b.Loop() {
					_, err := newSDK()
					check(b, err)
				}
			},
		},
		{
			// Each side decodes the integer encoding it emits (uma-go-sdk
			// cannot read binary integers).
			Name: "invoice/parse_verify",
			Ours: func(b *testing.B) {
				for b.Loop() {
					inv, err := uma.DecodeInvoice(ours)
					check(b, err)
					check(b, inv.Verify(e.v2Pub))
				}
			},
			SDK: func(b *testing.B) {
				for b.Loop() {
					inv, err := sdk.DecodeUmaInvoice(theirs)
					check(b, err)
					check(b, sdk.VerifyUmaInvoiceSignature(*inv, e.sdkV2))
				}
			},
		},
	}, nil
}
