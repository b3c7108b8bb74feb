package sdkvasp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	"github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/lightning"
)

// The sending side, as an SDK sender does it: a signed lnurlp request, the
// receiver's signed answer verified, a signed payreq, its signed answer
// verified, and the invoice paid from the embedded node.

// HTTPError is a counterparty's non-200 answer.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// Post sends body to u as JSON and returns the 200 answer's body or an
// *HTTPError.
func (v *VASP) Post(ctx context.Context, u string, body []byte) ([]byte, error) {
	return v.do(ctx, http.MethodPost, u, body)
}

func (v *VASP) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Status: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}

// ReceiverKeys fetches (through the SDK's cache) the key document of the
// receiver's domain.
func (v *VASP) ReceiverKeys(receiver string) (*protocol.PubKeyResponse, error) {
	domain, err := sdk.GetVaspDomainFromUmaAddress(receiver)
	if err != nil {
		return nil, err
	}
	return sdk.FetchPublicKeyForVasp(domain, v.pubKeys)
}

// Lookup sends an SDK-signed lnurlp request for receiver and verifies the
// signed answer with the SDK.
func (v *VASP) Lookup(ctx context.Context, receiver string) (*protocol.UmaLnurlpResponse, error) {
	u, err := sdk.GetSignedLnurlpRequestUrl(v.Keys.SigningKeyBytes(), receiver, v.Domain, true, nil)
	if err != nil {
		return nil, fmt.Errorf("sign lnurlp request: %w", err)
	}
	body, err := v.do(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("lnurlp %s: %w", u, err)
	}
	resp, err := sdk.ParseLnurlpResponse(body)
	if err != nil {
		return nil, fmt.Errorf("parse lnurlp response: %w", err)
	}
	uresp := resp.AsUmaResponse()
	if uresp == nil {
		return nil, fmt.Errorf("lnurlp response is not UMA: %s", body)
	}
	keys, err := v.ReceiverKeys(receiver)
	if err != nil {
		return nil, fmt.Errorf("fetch receiver keys: %w", err)
	}
	if err := sdk.VerifyUmaLnurlpResponseSignature(*uresp, *keys, v.nonces); err != nil {
		return nil, fmt.Errorf("verify lnurlp response: %w", err)
	}
	return uresp, nil
}

// Payment is what PayRequest sent and got.
type Payment struct {
	Request  *protocol.PayRequest
	Response *protocol.PayReqResponse
}

// PayRequest sends an SDK-built v1 payreq from payer to receiver for amount
// of currency, receiver-locked, with travel-rule info encrypted to the
// receiver's encryption key, and verifies the signed answer with the SDK.
func (v *VASP) PayRequest(ctx context.Context, lnurlp *protocol.UmaLnurlpResponse, payer, payerName, receiver, currency string, amount int64, travelRule string) (Payment, error) {
	keys, err := v.ReceiverKeys(receiver)
	if err != nil {
		return Payment{}, fmt.Errorf("fetch receiver keys: %w", err)
	}
	encKey, err := keys.EncryptionPubKey()
	if err != nil {
		return Payment{}, fmt.Errorf("receiver encryption key: %w", err)
	}
	nodeKey := v.Node.PubKey()
	callback := v.BaseURL + "/api/utxocallback?payer=" + url.QueryEscape(payer)
	req, err := sdk.GetUmaPayRequest(amount, encKey, v.Keys.SigningKeyBytes(), currency, true, payer, 1,
		&payerName, nil, &travelRule, nil, protocol.KycStatusVerified, &[]string{}, &nodeKey, callback,
		&protocol.CounterPartyDataOptions{"name": {Mandatory: false}}, nil)
	if err != nil {
		return Payment{}, fmt.Errorf("build payreq: %w", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Payment{}, err
	}
	respBody, err := v.do(ctx, http.MethodPost, lnurlp.Callback, body)
	if err != nil {
		return Payment{}, fmt.Errorf("payreq: %w", err)
	}
	resp, err := sdk.ParsePayReqResponse(respBody)
	if err != nil {
		return Payment{}, fmt.Errorf("parse payreq response: %w", err)
	}
	if err := sdk.VerifyPayReqResponseSignature(resp, *keys, v.nonces, payer, receiver); err != nil {
		return Payment{}, fmt.Errorf("verify payreq response: %w", err)
	}
	return Payment{Request: req, Response: resp}, nil
}

// Pay pays a BOLT11 invoice from the VASP's node over the devnet.
func (v *VASP) Pay(ctx context.Context, invoice string) (lightning.Payment, error) {
	return v.Node.Pay(ctx, lightning.PayRequest{Invoice: invoice, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second})
}
