// Package sdkvasp is a minimal counterparty VASP built on uma-go-sdk v1.5.1,
// used to prove that a real vaspd pays and is paid by a VASP written on an
// official SDK. Every UMA message it sends is built and signed by the SDK,
// every message it receives is parsed and verified by the SDK, with the
// SDK's own public-key and nonce caches. Only the parts the SDK leaves to
// its user are ours: the HTTP routes, the exchange rate, and the Lightning
// node — a vaspd embedded node on its own database, paying and being paid
// over the loopback devnet like any vaspd.
//
// It is a test fixture, not a product: one currency, users held in memory,
// no approval flow. It serves
//
//	GET  /.well-known/lnurlpubkey      SDK GetPubKeyResponse
//	GET  /.well-known/lnurlp/{user}    SDK ParseLnurlpRequest, VerifyUmaLnurlpQuerySignature, GetLnurlpResponse
//	POST /api/payreq/{user}            SDK ParsePayRequest, VerifyPayReqSignature, GetPayReqResponse
//	POST /api/utxocallback             SDK ParsePostTransactionCallback, VerifyPostTransactionCallbackSignature
//	/devnet/v1/...                     the embedded node's devnet API
//
// and sends (Lookup, PayRequest, Pay) as an SDK sender would.
package sdkvasp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	eciesgo "github.com/ecies/go/v2"
	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	sdkerrors "github.com/uma-universal-money-address/uma-go-sdk/uma/errors"
	"github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd/interop/internal/fixture"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
)

// Options configure a VASP.
type Options struct {
	// Listener is where the VASP serves; its domain is localhost:PORT.
	Listener net.Listener
	// DB holds the embedded node's state (a migrated vaspd store).
	DB *store.DB
	// DevnetSecret and DevnetPeers are the embedded node's devnet settings.
	DevnetSecret string
	DevnetPeers  []string
	// Currency is what the VASP's users receive; MillisatoshiPerUnit is its
	// rate and FeeMsats the receiving fee of every payment.
	Currency protocol.Currency
	FeeMsats int64
}

// Received is one pay request the VASP answered with an invoice.
type Received struct {
	Payer          string // payerData.identifier
	Payee          string
	PaymentHash    lightning.Hash
	AmountMsats    int64
	Amount         int64 // in Currency's smallest unit
	TravelRuleInfo string
	Metadata       string // the LNURL metadata the invoice's description hash covers
	Request        *protocol.PayRequest
	Body           []byte // the payreq as received
}

// Callback is one verified post-transaction callback.
type Callback struct {
	Query    url.Values
	Callback *protocol.PostTransactionCallback
}

// VASP is the SDK-built counterparty.
type VASP struct {
	Domain  string // localhost:PORT
	BaseURL string // http://localhost:PORT
	Keys    *fixture.VASP
	Node    *embedded.Node

	opt     Options
	srv     *http.Server
	pubKeys *sdk.InMemoryPublicKeyCache
	nonces  *sdk.InMemoryNonceCache

	mu        sync.Mutex
	users     map[string]string // local part ($carol) → name
	received  []Received
	callbacks []Callback
	errs      []error
}

// Start opens the node and serves the VASP until Close.
func Start(ctx context.Context, opt Options) (*VASP, error) {
	port := opt.Listener.Addr().(*net.TCPAddr).Port
	domain := fmt.Sprintf("localhost:%d", port)
	keys, err := fixture.NewVASP(domain)
	if err != nil {
		return nil, err
	}
	node, err := embedded.Open(ctx, opt.DB, embedded.Options{
		Alias: "sdkvasp", KeyName: "sdkvasp.node_key", DevnetSecret: opt.DevnetSecret, DevnetPeers: opt.DevnetPeers,
		PollInterval: 50 * time.Millisecond, RetryInterval: 100 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	v := &VASP{
		Domain: domain, BaseURL: "http://" + domain, Keys: keys, Node: node, opt: opt,
		pubKeys: sdk.NewInMemoryPublicKeyCache(),
		nonces:  sdk.NewInMemoryNonceCache(time.Now().Add(-time.Hour)),
		users:   map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/lnurlpubkey", v.pubkey)
	mux.HandleFunc("GET /.well-known/lnurlp/{user}", v.lnurlp)
	mux.HandleFunc("POST /api/payreq/{user}", v.payreq)
	mux.HandleFunc("POST /api/utxocallback", v.utxoCallback)
	mux.Handle(embedded.DevnetPrefix, node.DevnetHandler())
	v.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = v.srv.Serve(opt.Listener) }()
	return v, nil
}

// Close stops the server and the node.
func (v *VASP) Close() error {
	err := v.srv.Close()
	return errors.Join(err, v.Node.Close())
}

// AddUser makes $local@Domain a receiver.
func (v *VASP) AddUser(local, name string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.users["$"+strings.TrimPrefix(local, "$")] = name
	return "$" + strings.TrimPrefix(local, "$") + "@" + v.Domain
}

// Received returns the pay requests answered so far.
func (v *VASP) Received() []Received {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Received(nil), v.received...)
}

// Callbacks returns the verified post-transaction callbacks so far.
func (v *VASP) Callbacks() []Callback {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Callback(nil), v.callbacks...)
}

// Errors returns the errors the VASP answered requests with, so that a
// test sees why a counterparty call failed.
func (v *VASP) Errors() []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]error(nil), v.errs...)
}

// PubKeyResponse is the SDK's key document for this VASP.
func (v *VASP) PubKeyResponse() (*protocol.PubKeyResponse, error) {
	return sdk.GetPubKeyResponse(v.Keys.SigningCertPEM, v.Keys.EncryptionCertPEM, nil)
}

func (v *VASP) fail(w http.ResponseWriter, status int, err error) {
	v.mu.Lock()
	v.errs = append(v.errs, err)
	v.mu.Unlock()
	body, code, ok := sdkerrors.ErrorToJSONResponse(err)
	if !ok {
		b, _ := json.Marshal(map[string]string{"status": "ERROR", "reason": err.Error(), "code": "INTERNAL_ERROR"})
		body, code = string(b), status
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (v *VASP) pubkey(w http.ResponseWriter, r *http.Request) {
	resp, err := v.PubKeyResponse()
	if err != nil {
		v.fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, resp)
}

// metadata is the LNURL metadata of a user, as the SDK's demo VASP builds it.
func (v *VASP) metadata(addr string) string {
	b, _ := json.Marshal([][]string{{"text/plain", "Pay to " + addr}, {"text/identifier", addr}})
	return string(b)
}

func (v *VASP) user(local string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	name, ok := v.users[local]
	return name, ok
}

func (v *VASP) lnurlp(w http.ResponseWriter, r *http.Request) {
	u := *r.URL
	u.Host = r.Host
	if !sdk.IsUmaLnurlpQuery(u) {
		v.fail(w, http.StatusBadRequest, errors.New("only UMA requests are served"))
		return
	}
	// The receiver domain is ours, whatever Host the sender used.
	req, err := sdk.ParseLnurlpRequestWithReceiverDomain(u, v.Domain)
	if err != nil {
		v.fail(w, http.StatusBadRequest, err)
		return
	}
	local, _, _ := strings.Cut(req.ReceiverAddress, "@")
	if _, ok := v.user(local); !ok {
		v.fail(w, http.StatusNotFound, fmt.Errorf("no user %s", local))
		return
	}
	uq := req.AsUmaRequest()
	keys, err := sdk.FetchPublicKeyForVasp(uq.VaspDomain, v.pubKeys)
	if err != nil {
		v.fail(w, http.StatusBadGateway, fmt.Errorf("fetch sender keys: %w", err))
		return
	}
	if err := sdk.VerifyUmaLnurlpQuerySignature(*uq, *keys, v.nonces); err != nil {
		v.fail(w, http.StatusUnauthorized, fmt.Errorf("verify lnurlp request: %w", err))
		return
	}
	key := v.Keys.SigningKeyBytes()
	travelRule := true
	kyc := protocol.KycStatusVerified
	currencies := []protocol.Currency{v.opt.Currency}
	payerData := protocol.CounterPartyDataOptions{"name": {Mandatory: false}}
	resp, err := sdk.GetLnurlpResponse(*req, v.BaseURL+"/api/payreq/"+url.PathEscape(local), v.metadata(req.ReceiverAddress),
		1, 10_000_000, &key, &travelRule, &payerData, &currencies, &kyc, nil, nil)
	if err != nil {
		v.fail(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, resp)
}

// invoicer is the SDK's InvoiceCreator on the embedded node: the SDK hands
// it metadata+payerData and the invoice commits to their SHA-256 (LUD-18).
type invoicer struct {
	ctx  context.Context
	node *embedded.Node
	inv  lightning.Invoice
}

func (i *invoicer) CreateInvoice(amountMsats int64, metadata string, _ *string) (*string, error) {
	inv, err := i.node.CreateInvoice(i.ctx, lightning.InvoiceRequest{
		AmountMsat: amountMsats, DescriptionHash: lightning.Hash(sha256.Sum256([]byte(metadata))), Expiry: 10 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	i.inv = inv
	return &inv.PaymentRequest, nil
}

func (v *VASP) payreq(w http.ResponseWriter, r *http.Request) {
	local := r.PathValue("user")
	name, ok := v.user(local)
	if !ok {
		v.fail(w, http.StatusNotFound, fmt.Errorf("no user %s", local))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		v.fail(w, http.StatusBadRequest, err)
		return
	}
	req, err := sdk.ParsePayRequest(body)
	if err != nil {
		v.fail(w, http.StatusBadRequest, fmt.Errorf("parse payreq: %w", err))
		return
	}
	if !req.IsUmaRequest() {
		v.fail(w, http.StatusBadRequest, errors.New("not an UMA payreq"))
		return
	}
	payer := *req.PayerData.Identifier()
	domain, err := sdk.GetVaspDomainFromUmaAddress(payer)
	if err != nil {
		v.fail(w, http.StatusBadRequest, err)
		return
	}
	keys, err := sdk.FetchPublicKeyForVasp(domain, v.pubKeys)
	if err != nil {
		v.fail(w, http.StatusBadGateway, fmt.Errorf("fetch sender keys: %w", err))
		return
	}
	if err := sdk.VerifyPayReqSignature(req, *keys, v.nonces); err != nil {
		v.fail(w, http.StatusUnauthorized, fmt.Errorf("verify payreq: %w", err))
		return
	}
	compliance, err := req.PayerData.Compliance()
	if err != nil || compliance == nil {
		v.fail(w, http.StatusBadRequest, fmt.Errorf("payer compliance: %v", err))
		return
	}
	var travel string
	if compliance.EncryptedTravelRuleInfo != nil {
		ct, err := hex.DecodeString(*compliance.EncryptedTravelRuleInfo)
		if err == nil {
			var pt []byte
			pt, err = eciesgo.Decrypt(eciesgo.NewPrivateKeyFromBytes(v.Keys.Keys.Encryption.Bytes()), ct)
			travel = string(pt)
		}
		if err != nil {
			v.fail(w, http.StatusBadRequest, fmt.Errorf("decrypt travel-rule info: %w", err))
			return
		}
	}
	if req.ReceivingCurrencyCode == nil || *req.ReceivingCurrencyCode != v.opt.Currency.Code {
		v.fail(w, http.StatusBadRequest, errors.New("unsupported receiving currency"))
		return
	}
	payee := local + "@" + v.Domain
	pubkey := v.Node.PubKey()
	callback := v.BaseURL + "/api/utxocallback?payee=" + url.QueryEscape(payee)
	key := v.Keys.SigningKeyBytes()
	decimals, rate, fee := v.opt.Currency.Decimals, v.opt.Currency.MillisatoshiPerUnit, v.opt.FeeMsats
	inv := &invoicer{ctx: r.Context(), node: v.Node}
	resp, err := sdk.GetPayReqResponse(*req, inv, v.metadata(payee), &v.opt.Currency.Code, &decimals, &rate, &fee,
		&[]string{}, &pubkey, &callback, &protocol.PayeeData{"name": name}, &key, &payee, nil, nil)
	if err != nil {
		v.fail(w, http.StatusInternalServerError, err)
		return
	}
	var amount int64
	if resp.PaymentInfo != nil && resp.PaymentInfo.Amount != nil {
		amount = *resp.PaymentInfo.Amount
	}
	v.mu.Lock()
	v.received = append(v.received, Received{
		Payer: payer, Payee: payee, PaymentHash: inv.inv.PaymentHash, AmountMsats: inv.inv.AmountMsat,
		Amount: amount, TravelRuleInfo: travel, Metadata: v.metadata(payee), Request: req, Body: body,
	})
	v.mu.Unlock()
	writeJSON(w, resp)
}

func (v *VASP) utxoCallback(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		v.fail(w, http.StatusBadRequest, err)
		return
	}
	cb, err := sdk.ParsePostTransactionCallback(body)
	if err != nil || cb.VaspDomain == nil {
		v.fail(w, http.StatusBadRequest, fmt.Errorf("parse post-transaction callback: %v", err))
		return
	}
	keys, err := sdk.FetchPublicKeyForVasp(*cb.VaspDomain, v.pubKeys)
	if err != nil {
		v.fail(w, http.StatusBadGateway, fmt.Errorf("fetch sender keys: %w", err))
		return
	}
	if err := sdk.VerifyPostTransactionCallbackSignature(cb, *keys, v.nonces); err != nil {
		v.fail(w, http.StatusUnauthorized, fmt.Errorf("verify post-transaction callback: %w", err))
		return
	}
	v.mu.Lock()
	v.callbacks = append(v.callbacks, Callback{Query: r.URL.Query(), Callback: cb})
	v.mu.Unlock()
	writeJSON(w, map[string]string{"status": "OK"})
}
