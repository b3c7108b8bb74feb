package uma_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/vaspd/vaspd/uma"
)

// vasp is one side of the example: its domain, keys and replay protection.
type vasp struct {
	domain   string
	keys     *uma.Keys
	verifier *uma.Verifier
}

func newVASP(domain string, keys uma.PublicKeySource) *vasp {
	key, err := uma.GeneratePrivateKey()
	if err != nil {
		panic(err)
	}
	now := time.Now()
	cert, err := uma.NewSelfSignedCertificate(key, domain, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		panic(err)
	}
	return &vasp{
		domain: domain,
		// One key for signing and encryption, as most deployments do.
		keys: &uma.Keys{Signing: key, Encryption: key, SigningCertChain: [][]byte{cert}, EncryptionCertChain: [][]byte{cert}},
		verifier: &uma.Verifier{
			Keys:   keys,
			Nonces: uma.NewMemoryNonceCache(now.Add(-24 * time.Hour)),
		},
	}
}

// network routes the KeyFetcher's HTTP requests to the VASPs in memory:
// GET https://<domain>/.well-known/lnurlpubkey answers with that VASP's keys.
type network map[string]*vasp

func (n network) RoundTrip(r *http.Request) (*http.Response, error) {
	v, ok := n[r.URL.Host]
	if !ok || r.URL.Path != "/.well-known/lnurlpubkey" {
		return &http.Response{StatusCode: 404, Body: io.NopCloser(bytes.NewReader(nil))}, nil
	}
	rec := httptest.NewRecorder()
	_ = json.NewEncoder(rec).Encode(v.keys.PubKeyResponse(time.Now().Add(time.Hour)))
	return rec.Result(), nil
}

// Example_payment runs a complete UMA payment between two VASPs in memory:
// $alice@vasp1.com sends $bob@vasp2.com exactly 10.00 USD.
func Example_payment() {
	ctx := context.Background()
	net := network{}
	fetcher := &uma.KeyFetcher{Client: &http.Client{Transport: net}}
	vasp1 := newVASP("vasp1.com", fetcher)
	vasp2 := newVASP("vasp2.com", fetcher)
	net["vasp1.com"], net["vasp2.com"] = vasp1, vasp2

	// 1. vasp1 (sender) signs an LNURLP request for $bob.
	bob, _ := uma.ParseUMAAddress("$bob@vasp2.com")
	lnurlpReq, _ := uma.NewLnurlpRequest(vasp1.keys.Signing, bob, vasp1.domain, true, uma.Version1, time.Now())
	reqURL, _ := lnurlpReq.URL()
	fmt.Println("GET", reqURL.Scheme+"://"+reqURL.Host+reqURL.Path)

	// 2. vasp2 (receiver) parses and verifies it, then answers.
	received, err := uma.ParseLnurlpRequest(reqURL) // on a server: r.URL with Host = r.Host
	if err != nil {
		panic(err)
	}
	if _, err := vasp2.verifier.VerifyLnurlpRequest(ctx, received); err != nil {
		panic(err)
	}
	version, _ := uma.NegotiateVersion(received.UmaVersion)
	lnurlpResp := &uma.LnurlpResponse{
		Callback:    "https://vasp2.com/api/uma/payreq/bob",
		MinSendable: 1_000,
		MaxSendable: 10_000_000_000,
		Metadata:    uma.BuildMetadata("Pay to vasp2.com user $bob", received.ReceiverAddress),
		Currencies: []uma.Currency{{Code: "USD", Name: "US Dollar", Symbol: "$", Multiplier: 34150, Decimals: 2,
			Convertible: uma.Convertible{Min: 1, Max: 10_000_000}}},
		PayerData:  uma.UMADataOptions("name"),
		Compliance: &uma.LnurlComplianceResponse{KycStatus: uma.KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: received.ReceiverAddress},
		UmaVersion: version.String(),
	}
	_ = lnurlpResp.Sign(vasp2.keys.Signing, time.Now())
	lnurlpBody, _ := json.Marshal(lnurlpResp)

	// 3. vasp1 verifies the response and sends a signed pay request with
	//    travel-rule data encrypted to vasp2's encryption key.
	offer, err := uma.ParseLnurlpResponse(lnurlpBody)
	if err != nil {
		panic(err)
	}
	receiverKeys, err := vasp1.verifier.VerifyLnurlpResponse(ctx, offer, bob)
	if err != nil {
		panic(err)
	}
	travelRule, _ := uma.EncryptTravelRuleInfo(receiverKeys.Encryption, []byte(`{"originator":{"name":"Alice"}}`))
	payReq := &uma.PayRequest{
		Amount:            1000, // cents: bob receives exactly 10.00 USD
		SendingCurrency:   "USD",
		ReceivingCurrency: "USD",
		PayerData: &uma.PayerData{
			Identifier: "$alice@vasp1.com",
			Name:       "Alice",
			Compliance: &uma.CompliancePayerData{
				KycStatus:               uma.KycVerified,
				EncryptedTravelRuleInfo: travelRule,
				TravelRuleFormat:        "IVMS@101.2023",
				UtxoCallback:            "https://vasp1.com/api/uma/utxoCallback?txid=1",
			},
		},
		PayeeData: uma.UMADataOptions(),
	}
	_ = payReq.Sign(vasp1.keys.Signing, time.Now())
	payReqBody, _ := json.Marshal(payReq)

	// 4. vasp2 verifies, checks, quotes and answers with a signed response.
	incoming, err := uma.ParsePayRequest(payReqBody)
	if err != nil {
		panic(err)
	}
	if _, err := vasp2.verifier.VerifyPayRequest(ctx, incoming); err != nil {
		panic(err)
	}
	if err := incoming.CheckMandatoryPayerData(lnurlpResp.PayerData); err != nil {
		panic(err)
	}
	quote, err := uma.QuotePayRequest(incoming, lnurlpResp.Currencies, lnurlpResp.MinSendable, lnurlpResp.MaxSendable, 2000)
	if err != nil {
		panic(err)
	}
	info, _ := uma.DecryptTravelRuleInfo(vasp2.keys.Encryption, incoming.PayerData.Compliance.EncryptedTravelRuleInfo)
	fmt.Println("travel rule:", string(info))
	descriptionHash := uma.DescriptionHash(lnurlpResp.Metadata, incoming.PayerDataJSON())
	_ = descriptionHash // → the Lightning node's invoice for quote.InvoiceMsats
	payResp := &uma.PayReqResponse{
		PR:        "lnbc341520n1...", // the BOLT11 from the Lightning node
		Converted: quote.Converted,
		PayeeData: &uma.PayeeData{
			Identifier: received.ReceiverAddress,
			Compliance: &uma.CompliancePayeeData{NodePubKey: "03...", UtxoCallback: "https://vasp2.com/api/uma/utxoCallback?txid=2"},
		},
	}
	_ = payResp.Sign(vasp2.keys.Signing, incoming.PayerData.Identifier, time.Now())
	payRespBody, _ := json.Marshal(payResp)

	// 5. vasp1 verifies the quote, pays the invoice, and reports the payment.
	got, err := uma.ParsePayReqResponse(payRespBody)
	if err != nil {
		panic(err)
	}
	if _, err := vasp1.verifier.VerifyPayReqResponse(ctx, got, payReq.PayerData.Identifier, bob); err != nil {
		panic(err)
	}
	fmt.Printf("invoice: %d msats for %s %s (fee %d msats)\n", quote.InvoiceMsats,
		uma.FormatAmount(got.Converted.Amount, got.Converted.Decimals), got.Converted.CurrencyCode, got.Converted.Fee)

	postTx := &uma.PostTransactionCallback{
		Utxos:             []uma.UtxoWithAmount{{Utxo: "ab12...:1", AmountMsats: quote.InvoiceMsats}},
		VaspDomain:        vasp1.domain,
		TransactionStatus: uma.TransactionCompleted,
	}
	postTx.Sign(vasp1.keys.Signing, time.Now())
	postTxBody, _ := json.Marshal(postTx)
	cb, _ := uma.ParsePostTransactionCallback(postTxBody)
	fmt.Println("post-tx callback verified:", vasp2.verifier.VerifyPostTransactionCallback(ctx, cb, "vasp1.com") == nil)

	// Replaying any signed message fails.
	_, err = vasp2.verifier.VerifyPayRequest(ctx, incoming)
	fmt.Println("replay:", uma.AsError(err).Code)

	// Output:
	// GET https://vasp2.com/.well-known/lnurlp/$bob
	// travel rule: {"originator":{"name":"Alice"}}
	// invoice: 34152000 msats for 10.00 USD (fee 2000 msats)
	// post-tx callback verified: true
	// replay: INVALID_NONCE
}

// ExampleError shows how an HTTP handler answers a rejected request.
func ExampleError() {
	u, _ := url.Parse("https://vasp2.com/.well-known/lnurlp/$bob?umaVersion=2.0&signature=x&vaspDomain=vasp1.com&nonce=1&timestamp=1")
	_, err := uma.ParseLnurlpRequest(u)

	e := uma.AsError(err) // any error → *uma.Error (unknown ones become INTERNAL_ERROR)
	fmt.Println(e.HTTPStatus())
	fmt.Println(string(e.Body()))
	// Output:
	// 412
	// {"status":"ERROR","reason":"unsupported version: 2.0","code":"UNSUPPORTED_UMA_VERSION","unsupportedVersion":"2.0","supportedMajorVersions":[1,0]}
}
