package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/uma-universal-money-address/uma-go-sdk/uma"
	"github.com/uma-universal-money-address/uma-go-sdk/uma/protocol"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/interop/internal/sdkvasp"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestVASPWithGoSDK runs a whole vaspd (daemon, database, embedded node,
// platform API, webhooks) against a counterparty VASP built on uma-go-sdk
// (internal/sdkvasp) with its own embedded node on the loopback devnet,
// and pays in both directions for real: the SDK VASP pays $bob@vaspd, and
// vaspd's platform pays $carol@sdkvasp. Every UMA message on the SDK side
// is built, signed, parsed and verified by the SDK.
func TestVASPWithGoSDK(t *testing.T) {
	for _, kind := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(*testing.T) string { return "" }},
		{"PostgreSQL", func(t *testing.T) string {
			if os.Getenv(storetest.PostgresEnv) == "" {
				t.Skip("PostgreSQL: " + storetest.PostgresEnv + " is not set")
			}
			return storetest.PostgresURL(t)
		}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			v, s := startWithSDKVASP(t, kind.url(t))
			t.Run("SDKSendsVaspdReceives", func(t *testing.T) { sdkPaysVaspd(t, v, s) })
			t.Run("VaspdSendsSDKReceives", func(t *testing.T) { vaspdPaysSDK(t, v, s) })
			v.checkBooks()
		})
	}
}

// TestSDKServerLnurlpHost pins the pitfall internal/sdkvasp works around:
// on a server, r.URL has no host, so uma-go-sdk's ParseLnurlpRequest
// builds a receiver address without a domain.
func TestSDKServerLnurlpHost(t *testing.T) {
	u, err := sdk.GetSignedLnurlpRequestUrl(vasp1.SigningKeyBytes(), "$carol@localhost:8081", vasp1.Domain, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	onServer, err := url.ParseRequestURI(u.RequestURI()) // what net/http gives a handler as r.URL
	if err != nil {
		t.Fatal(err)
	}
	r, err := sdk.ParseLnurlpRequest(*onServer)
	if err != nil || r.ReceiverAddress != "$carol@" {
		t.Fatalf("uma-go-sdk ParseLnurlpRequest(r.URL) = %+v, %v; want receiver \"$carol@\" (update docs/interop.md)", r, err)
	}
	r, err = sdk.ParseLnurlpRequestWithReceiverDomain(*onServer, "localhost:8081")
	if err != nil || r.ReceiverAddress != "$carol@localhost:8081" {
		t.Fatalf("ParseLnurlpRequestWithReceiverDomain = %+v, %v", r, err)
	}
}

// gbp is the SDK VASP's only currency, one vaspd itself does not price:
// a fractional msats-per-penny rate, as the SDK's float multiplier allows.
var gbp = protocol.Currency{
	Code: "GBP", Name: "Pound sterling", Symbol: "£", MillisatoshiPerUnit: 2_437.5, Decimals: 2,
	Convertible: protocol.ConvertibleCurrency{MinSendable: 1, MaxSendable: 1_000_000},
}

const (
	devnetSecret = "interop-devnet-secret"
	sdkFeeMsats  = 1_000
)

// sdkPaysVaspd is direction A: the SDK VASP looks up $bob@vaspd, sends a
// receiver-locked EUR payreq, verifies the answer and pays the invoice.
func sdkPaysVaspd(t *testing.T, v *vaspdProc, s *sdkvasp.VASP) {
	ctx := context.Background()
	bob := v.user("bob", "EUR", "Bob Receiver")
	bobAddr := "$bob@" + v.domain
	dave := "$dave@" + s.Domain

	lnurlp, err := s.Lookup(ctx, bobAddr)
	if err != nil {
		t.Fatalf("SDK lookup of %s: %v (vaspd: %v)", bobAddr, err, s.Errors())
	}
	if lnurlp.Compliance.ReceiverIdentifier != bobAddr || lnurlp.Compliance.KycStatus != protocol.KycStatusVerified ||
		lnurlp.UmaVersion != "1.0" || len(lnurlp.Currencies) == 0 || lnurlp.Currencies[0].Code != "EUR" {
		t.Fatalf("SDK read vaspd's lnurlp response as %+v", lnurlp)
	}
	if !lnurlp.RequiredPayerData["identifier"].Mandatory || !lnurlp.RequiredPayerData["compliance"].Mandatory {
		t.Fatalf("payerData options %+v", lnurlp.RequiredPayerData)
	}

	const amount = 10_00 // € 10.00, receiver-locked
	travel := `{"originator":{"name":"Dave Sender","account":"` + dave + `"}}`
	pay, err := s.PayRequest(ctx, lnurlp, dave, "Dave Sender", bobAddr, "EUR", amount, travel)
	if err != nil {
		t.Fatalf("SDK payreq to %s: %v", bobAddr, err)
	}
	info := pay.Response.PaymentInfo
	if info == nil || info.Amount == nil || *info.Amount != amount || info.CurrencyCode != "EUR" || info.Decimals != 2 {
		t.Fatalf("SDK read vaspd's converted block as %+v", info)
	}
	payee, _ := (*pay.Response.PayeeData)["identifier"].(string)
	if payee != bobAddr {
		t.Fatalf("payeeData.identifier %q, want %q", payee, bobAddr)
	}
	inv, err := bolt11.Decode(pay.Response.EncodedInvoice, bolt11.Regtest)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK's own arithmetic on vaspd's answer gives the invoice amount
	// (±1 msat: vaspd rounds its exact rate to a float multiplier).
	if want := int64(math.Round(float64(amount)*info.Multiplier)) + info.ExchangeFeesMillisatoshi; abs(inv.AmountMsat-want) > 1 {
		t.Fatalf("invoice for %d msats; amount×multiplier+fee = %d", inv.AmountMsat, want)
	}
	// The PENDING approval webhook already went out, synchronously.
	pending := v.hooks.find("INCOMING_PAYMENT", "PENDING")
	if len(pending) != 1 || txField(pending[0], "senderUmaAddress") != dave || txField(pending[0], "receiverUmaAddress") != bobAddr {
		t.Fatalf("approval webhooks: %v", pending)
	}

	// SDK quirk: GetUmaPayRequest always writes payerData.email, null when
	// the sender has none; vaspd takes it as absent.
	if b := mustJSON(t, pay.Request); !bytes.Contains(b, []byte(`"email":null`)) {
		t.Fatalf("uma-go-sdk no longer writes \"email\":null (update docs/interop.md): %s", b)
	}
	// Negative control: the same SDK-signed payreq again is a replay.
	if _, err := s.Post(ctx, lnurlp.Callback, mustJSON(t, pay.Request)); !isUMAError(err, 400, "INVALID_NONCE") {
		t.Fatalf("replayed SDK payreq: %v, want 400 INVALID_NONCE", err)
	}
	if n := len(v.hooks.find("INCOMING_PAYMENT", "PENDING")); n != 1 {
		t.Fatalf("the replay reached the platform: %d approval webhooks", n)
	}

	p, err := s.Pay(ctx, pay.Response.EncodedInvoice)
	if err != nil || p.Status != lightning.StatusSucceeded || p.AmountMsat != inv.AmountMsat {
		t.Fatalf("SDK node paid %+v, %v", p, err)
	}
	eventually(t, "bob credited", func() bool { return v.balance(bob.ID, "EUR") == amount })
	eventually(t, "INCOMING_PAYMENT COMPLETED", func() bool { return len(v.hooks.find("INCOMING_PAYMENT", "COMPLETED")) == 1 })
	done := v.hooks.find("INCOMING_PAYMENT", "COMPLETED")[0]
	if txField(done, "senderUmaAddress") != dave {
		t.Fatalf("completed webhook %v", done)
	}
	// vaspd, as receiver, sent its post-transaction callback to the SDK
	// sender's utxoCallback; the SDK verified its signature.
	eventually(t, "vaspd's post-transaction callback verified by the SDK", func() bool {
		return len(callbacksFor(s, "payer", dave)) == 1
	})
	if cb := callbacksFor(s, "payer", dave)[0]; *cb.VaspDomain != v.domain || len(cb.Utxos) == 0 || cb.Utxos[0].Amount != inv.AmountMsat {
		t.Fatalf("post-transaction callback %+v", cb)
	}
	if got := v.balance(bob.ID, "EUR"); got != amount {
		t.Fatalf("bob holds %d cents after the webhook, want %d", got, amount)
	}
}

// vaspdPaysSDK is direction B: vaspd's platform API pays $carol@sdkvasp.
func vaspdPaysSDK(t *testing.T, v *vaspdProc, s *sdkvasp.VASP) {
	ctx := context.Background()
	carol := s.AddUser("carol", "Carol SDK")
	alice := v.user("alice", "USD", "Alice Sender")
	v.deposit(alice.ID, "USD", 100_00)
	aliceAddr := "$alice@" + v.domain

	var lookup struct {
		LookupID            string `json:"lookupId"`
		ReceiverUmaAddress  string `json:"receiverUmaAddress"`
		KycStatus           string `json:"kycStatus"`
		SupportedCurrencies []struct {
			Currency struct {
				Code     string `json:"code"`
				Decimals int    `json:"decimals"`
			} `json:"currency"`
		} `json:"supportedCurrencies"`
	}
	v.mustCall("GET", "/receiver/"+url.PathEscape(carol)+"?userId="+url.QueryEscape(alice.ID), nil, &lookup)
	if lookup.ReceiverUmaAddress != carol || lookup.KycStatus != "VERIFIED" || len(lookup.SupportedCurrencies) != 1 ||
		lookup.SupportedCurrencies[0].Currency.Code != "GBP" {
		t.Fatalf("lookup of %s: %+v", carol, lookup)
	}

	// Negative control: a user the SDK VASP does not have.
	if status, body := v.call("GET", "/receiver/"+url.PathEscape("$nobody@"+s.Domain)+"?userId="+url.QueryEscape(alice.ID), nil); status != 404 || !bytes.Contains(body, []byte(`"code":"USER_NOT_FOUND"`)) {
		t.Fatalf("lookup of an unknown SDK user: %d %s", status, body)
	}

	const amount = 5_00 // £ 5.00, receiver-locked
	var q struct {
		QuoteID              string `json:"quoteId"`
		TotalSendingAmount   int64  `json:"totalSendingAmount"`
		TotalReceivingAmount int64  `json:"totalReceivingAmount"`
		InvoiceAmountMsats   int64  `json:"invoiceAmountMsats"`
		ReceiverFeeMsats     int64  `json:"receiverFeeMsats"`
	}
	v.mustCall("POST", "/quotes", map[string]any{
		"lookupId": lookup.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "GBP",
		"lockedCurrencySide": "RECEIVING", "lockedCurrencyAmount": amount, "description": "interop",
	}, &q)
	// The SDK receiver's arithmetic: amount × multiplier + fee.
	wantMsats := int64(math.Round(amount*gbp.MillisatoshiPerUnit)) + sdkFeeMsats
	if q.TotalReceivingAmount != amount || q.InvoiceAmountMsats != wantMsats || q.ReceiverFeeMsats != sdkFeeMsats || q.TotalSendingAmount <= 0 {
		t.Fatalf("quote %+v; want %d msats", q, wantMsats)
	}
	rec := s.Received()
	if len(rec) != 1 || rec[0].Payer != aliceAddr || rec[0].Payee != carol || rec[0].Amount != amount || rec[0].AmountMsats != wantMsats {
		t.Fatalf("the SDK VASP answered %+v", rec)
	}
	// vaspd encrypted the travel-rule info to the SDK VASP's encryption
	// key; the SDK side decrypted it.
	if !strings.Contains(rec[0].TravelRuleInfo, "Alice Sender") {
		t.Fatalf("travel-rule info decrypted by the SDK VASP: %q", rec[0].TravelRuleInfo)
	}

	// SDK quirk: the invoice commits (LUD-18) to the metadata plus the
	// payerData as the SDK re-serialises it (encoding/json of a map: keys
	// sorted), not to the bytes vaspd sent. vaspd does not check the
	// description hash of invoices it pays, so this does not matter.
	issued, err := s.Node.LookupInvoice(ctx, rec[0].PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		PayerData json.RawMessage `json:"payerData"`
	}
	if err := json.Unmarshal(rec[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	sdkHash := sha256.Sum256(append([]byte(rec[0].Metadata), mustJSON(t, rec[0].Request.PayerData)...))
	wireHash := sha256.Sum256(append([]byte(rec[0].Metadata), sent.PayerData...))
	if issued.DescriptionHash != sdkHash || issued.DescriptionHash == wireHash {
		t.Fatalf("description hash %x: SDK re-serialised %x, as sent %x (update docs/interop.md)", issued.DescriptionHash, sdkHash, wireHash)
	}

	var tx struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Type   string `json:"type"`
	}
	v.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "interop-"+q.QuoteID)
	if tx.Status != "COMPLETED" || tx.Type != "OUTGOING" {
		t.Fatalf("execute: %+v", tx)
	}
	inv, err := s.Node.LookupInvoice(ctx, rec[0].PaymentHash)
	if err != nil || inv.State != lightning.InvoiceSettled || inv.AmountPaidMsat != wantMsats {
		t.Fatalf("the SDK VASP's invoice: %+v, %v", inv, err)
	}
	var got struct {
		Status string `json:"status"`
	}
	v.mustCall("GET", "/transactions/"+url.PathEscape(tx.ID), nil, &got)
	if got.Status != "COMPLETED" {
		t.Fatalf("transaction %s is %s", tx.ID, got.Status)
	}
	eventually(t, "OUTGOING_PAYMENT COMPLETED", func() bool { return len(v.hooks.find("OUTGOING_PAYMENT", "COMPLETED")) == 1 })
	if bal := v.balance(alice.ID, "USD"); bal != 100_00-q.TotalSendingAmount {
		t.Fatalf("alice holds %d cents, want %d", bal, 100_00-q.TotalSendingAmount)
	}
	// vaspd, as sender, sent its post-transaction callback to the SDK
	// receiver's utxoCallback; the SDK verified its signature.
	eventually(t, "vaspd's post-transaction callback verified by the SDK", func() bool {
		return len(callbacksFor(s, "payee", carol)) == 1
	})
	if cb := callbacksFor(s, "payee", carol)[0]; *cb.VaspDomain != v.domain || len(cb.Utxos) == 0 {
		t.Fatalf("post-transaction callback %+v", cb)
	}
}

func callbacksFor(s *sdkvasp.VASP, key, value string) []*protocol.PostTransactionCallback {
	var out []*protocol.PostTransactionCallback
	for _, c := range s.Callbacks() {
		if c.Query.Get(key) == value {
			out = append(out, c.Callback)
		}
	}
	return out
}

// isUMAError reports whether err is a counterparty's UMA error answer with
// this status and code.
func isUMAError(err error, status int, code string) bool {
	var he *sdkvasp.HTTPError
	if !errors.As(err, &he) || he.Status != status {
		return false
	}
	var e struct {
		Status string `json:"status"`
		Code   string `json:"code"`
	}
	return json.Unmarshal([]byte(he.Body), &e) == nil && e.Status == "ERROR" && e.Code == code
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// startWithSDKVASP starts a vaspd on databaseURL ("" for SQLite) and an SDK
// VASP (SQLite for its node), each listing the other as its devnet peer.
func startWithSDKVASP(t *testing.T, databaseURL string) (*vaspdProc, *sdkvasp.VASP) {
	t.Helper()
	lv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := sdkvasp.Start(ctx, sdkvasp.Options{
		Listener: ls, DB: storetest.SQLite(t), DevnetSecret: devnetSecret,
		DevnetPeers: []string{"http://" + lv.Addr().String()}, Currency: gbp, FeeMsats: sdkFeeMsats,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	cfg := daemon.Config{
		DataDir: t.TempDir(), DatabaseURL: databaseURL, Listen: lv.Addr().String(),
		Domain: fmt.Sprintf("localhost:%d", lv.Addr().(*net.TCPAddr).Port), LogFormat: "text", LogLevel: "warn",
		ShutdownTimeout: 10 * time.Second,
	}
	cfg.Lightning.DevnetSecret = devnetSecret
	cfg.Lightning.DevnetPeers = "http://" + ls.Addr().String()
	cfg.Webhooks.AllowNets = "127.0.0.0/8,localhost"
	cfg.Payments.AllowNets = "127.0.0.0/8,localhost"
	cfg.Payments.ApprovalTimeout = 3 * time.Second
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	v := &vaspdProc{t: t, domain: cfg.Domain, base: cfg.BaseURL}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	v.daemon = daemon.NewWithListener(cfg, lv, log, io.Discard)
	done := make(chan error, 1)
	go func() { done <- v.daemon.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("vaspd stopped with %v", err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(v.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("vaspd did not become ready")
		}
	}
	tokens, err := auth.NewTokens(ctx, v.daemon.DB(), vaspd.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.Create(ctx, "interop", []vaspd.Permission{vaspd.PermView, vaspd.PermTransact, vaspd.PermManage})
	if err != nil {
		t.Fatal(err)
	}
	v.clientID, v.secret = tok.ClientID, tok.ClientSecret
	v.hooks = newHooks(t)
	v.mustCall("PATCH", "/config", map[string]any{"webhookEndpoint": v.hooks.srv.URL}, nil)
	return v, s
}

// vaspdProc is the vaspd under test with its platform: an admin API
// credential and a webhook receiver that approves incoming payments.
type vaspdProc struct {
	t                *testing.T
	domain, base     string
	daemon           *daemon.Daemon
	clientID, secret string
	hooks            *hooks
}

func (p *vaspdProc) mustCall(method, path string, body, out any, header ...string) {
	p.t.Helper()
	status, b := p.call(method, path, body, header...)
	if status >= 300 {
		p.t.Fatalf("%s %s: HTTP %d: %s", method, path, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// call does a platform API request and returns the status and body.
func (p *vaspdProc) call(method, path string, body any, header ...string) (int, []byte) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	req.SetBasicAuth(p.clientID, p.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (p *vaspdProc) user(local, currency, name string) users.User {
	p.t.Helper()
	u, err := users.New(p.daemon.DB(), vaspd.SystemClock{}).Create(context.Background(), p.daemon.DB(), users.User{
		PlatformUserID: "platform-" + local, UserType: users.Individual, UMALocal: local,
		KYCStatus: users.KYCVerified, PreferredCurrencies: []string{currency}, FullName: name,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return u
}

func (p *vaspdProc) deposit(userID, currency string, amount int64) {
	p.t.Helper()
	if _, err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Post(context.Background(),
		ledger.Deposit("deposit/"+vaspd.NewID("Deposit"), userID, currency, amount, "interop")); err != nil {
		p.t.Fatal(err)
	}
}

func (p *vaspdProc) balance(userID, currency string) int64 {
	p.t.Helper()
	n, err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Balance(context.Background(), p.daemon.DB(), ledger.UserAccount(userID), currency)
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

// checkBooks asserts every currency of vaspd's ledger sums to zero.
func (p *vaspdProc) checkBooks() {
	p.t.Helper()
	if err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Check(context.Background(), p.daemon.DB()); err != nil {
		p.t.Errorf("ledger: %v", err)
	}
}

// hooks is the platform's webhook endpoint: it records every webhook and
// approves INCOMING_PAYMENT PENDING with the receiver's name.
type hooks struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
}

func newHooks(t *testing.T) *hooks {
	h := &hooks{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if m["type"] == "INCOMING_PAYMENT" && txField(m, "status") == "PENDING" {
			_ = json.NewEncoder(w).Encode(map[string]any{"receiverUserInfo": map[string]any{"FULL_NAME": "Bob Receiver"}})
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hooks) find(typ, status string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, m := range h.got {
		if m["type"] == typ && txField(m, "status") == status {
			out = append(out, m)
		}
	}
	return out
}

func txField(m map[string]any, key string) string {
	tx, _ := m["transaction"].(map[string]any)
	s, _ := tx[key].(string)
	return s
}

type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log("vaspd: " + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
