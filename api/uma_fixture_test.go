package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/vasp/vasptest"
)

// payFixture is one real VASP behind the real HTTP handlers: UMA and
// platform endpoints, an embedded Lightning node, ledger, rates and
// webhooks on db. Its users can pay each other through UMA, over HTTP to
// itself (the node pays itself).
type payFixture struct {
	db     *store.DB
	base   string
	domain string
	keys   *uma.Keys
	svc    *vasp.Service
	node   *embedded.Node
	ledger *ledger.Ledger
	rates  rates.Provider // set for newPayFixtureMount's mount
	admin  auth.CreatedToken
	viewer auth.CreatedToken
	alice  vasp.Recipient // USD, funded with $1,000.00
	bob    vasp.Recipient // EUR
}

func newKeys(t testing.TB, domain string) *uma.Keys {
	t.Helper()
	k, err := uma.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := uma.NewSelfSignedCertificate(k, domain, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &uma.Keys{Signing: k, Encryption: k, SigningCertChain: [][]byte{cert}, EncryptionCertChain: [][]byte{cert}}
}

// keyServer serves keys at /.well-known/lnurlpubkey and returns its domain.
func keyServer(t testing.TB, keys func(domain string) *uma.Keys) (string, *uma.Keys) {
	t.Helper()
	var k *uma.Keys
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(k.PubKeyResponse(time.Now().Add(time.Hour)))
	}))
	t.Cleanup(srv.Close)
	domain := "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
	k = keys(domain)
	return domain, k
}

func newPayFixture(t testing.TB, db *store.DB) *payFixture {
	t.Helper()
	return newPayFixtureWith(t, db, nil, nil)
}

// newPayFixtureWith is newPayFixture with opts changed by opt and the
// HTTP server by srvOpt, before it starts (either may be nil).
func newPayFixtureWith(t testing.TB, db *store.DB, opt func(*vasp.Options), srvOpt func(*http.Server)) *payFixture {
	t.Helper()
	return newPayFixtureAPI(t, db, opt, srvOpt, nil)
}

// newPayFixtureAPI is newPayFixtureWith with the API server's options
// changed by apiOpt (if not nil): its clock, logger, limits.
func newPayFixtureAPI(t testing.TB, db *store.DB, opt func(*vasp.Options), srvOpt func(*http.Server), apiOpt func(*api.Options)) *payFixture {
	t.Helper()
	return newPayFixtureMount(t, db, opt, srvOpt, apiOpt, nil)
}

// newPayFixtureMount is newPayFixtureAPI with mount, if not nil, adding
// routes to the API server before it starts.
func newPayFixtureMount(t testing.TB, db *store.DB, opt func(*vasp.Options), srvOpt func(*http.Server), apiOpt func(*api.Options),
	mount func(s *api.Server, f *payFixture)) *payFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &payFixture{db: db, domain: fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port)}
	f.base = "http://" + f.domain
	f.keys = newKeys(t, f.domain)
	node, err := embedded.Open(ctx, db, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.node = node
	provider, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := delivery.New(db, delivery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.ledger = ledger.New(db, nil)
	f.alice = vasp.Recipient{UserID: vaspd.NewID(vaspd.IDUser), PlatformUserID: "p-alice", Local: "alice", Name: "Alice Sender", Currencies: []string{"USD"}, KYCStatus: uma.KycVerified}
	f.bob = vasp.Recipient{UserID: vaspd.NewID(vaspd.IDUser), PlatformUserID: "p-bob", Local: "bob", Name: "Bob Receiver", Currencies: []string{"EUR"}}
	dir := vasptest.Directory{f.alice.UserID: f.alice, f.bob.UserID: f.bob}
	opts := vasp.Options{DB: db, Domain: f.domain, Keys: f.keys, Node: node, Ledger: f.ledger,
		Rates: provider, Users: dir, Webhooks: hooks, ApprovalTimeout: 2 * time.Second}
	if opt != nil {
		opt(&opts)
	}
	f.svc, err = vasp.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.admin, err = tokens.Create(ctx, "admin", vaspd.AllPermissions); err != nil {
		t.Fatal(err)
	}
	if f.viewer, err = tokens.Create(ctx, "viewer", []vaspd.Permission{vaspd.PermView}); err != nil {
		t.Fatal(err)
	}
	apiOpts := api.Options{Tokens: tokens, Audit: audit.New(db, nil)}
	if apiOpt != nil {
		apiOpt(&apiOpts)
	}
	s := api.New(apiOpts)
	s.MountUMA(f.svc)
	s.MountPayments(f.svc)
	s.MountLedger(db, f.ledger, provider)
	if mount != nil {
		f.rates = provider
		mount(s, f)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	if srvOpt != nil {
		srvOpt(srv.Config)
	}
	srv.Start()
	done := make(chan struct{})
	go func() { _ = f.svc.Run(ctx); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		_ = node.Close()
		// Money is never created or lost, whatever the scenario did.
		if err := f.ledger.Check(context.Background(), db); err != nil {
			t.Errorf("ledger check: %v", err)
		}
	})
	err = db.InTx(ctx, func(tx *store.Tx) error {
		_, err := f.ledger.Transfer(ctx, tx, ledger.Deposit("deposit/alice", f.alice.UserID, "USD", 100_000, "test"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// call sends a request (body may be "") and returns status, the raw body
// and the body as a JSON object (nil when it is not one).
func (f *payFixture) call(t testing.TB, method, path string, tok *auth.CreatedToken, body string, headers ...string) (int, []byte, map[string]any) {
	t.Helper()
	st, raw, m, _ := f.callHeader(t, method, path, tok, body, headers...)
	return st, raw, m
}

// callHeader is call, also returning the answer's header.
func (f *payFixture) callHeader(t testing.TB, method, path string, tok *auth.CreatedToken, body string, headers ...string) (int, []byte, map[string]any, http.Header) {
	t.Helper()
	r, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != nil {
		r.SetBasicAuth(tok.ClientID, tok.ClientSecret)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" { // net/http sends r.Host, not a Host header
			r.Host = headers[i+1]
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, b, m, resp.Header
}

// wantUMAError checks UMA's error JSON {"status":"ERROR","reason","code"}.
func wantUMAError(t *testing.T, status int, raw []byte, wantStatus int, wantCode uma.ErrorCode) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("got %d %q, want UMA error JSON %d %s", status, raw, wantStatus, wantCode)
	}
	reason, _ := m["reason"].(string)
	if status != wantStatus || m["status"] != "ERROR" || m["code"] != string(wantCode) || reason == "" {
		t.Fatalf("got %d %s, want %d %s", status, raw, wantStatus, wantCode)
	}
	if _, ok := m["message"]; ok {
		t.Fatalf("UMA error carries the platform API's message field: %s", raw)
	}
}

// wantAPIError checks the platform API's error JSON {status,code,message}.
func wantAPIError(t *testing.T, status int, raw []byte, wantStatus int, wantCode string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("got %d %q, want API error JSON %d %s", status, raw, wantStatus, wantCode)
	}
	msg, _ := m["message"].(string)
	if status != wantStatus || m["status"] != float64(wantStatus) || m["code"] != wantCode || msg == "" {
		t.Fatalf("got %d %s, want %d %s", status, raw, wantStatus, wantCode)
	}
}

// lnurlpPath is a signed lnurlp path and query for local, from signer.
func (f *payFixture) lnurlpPath(t *testing.T, local, senderDomain string, key *uma.PrivateKey, at time.Time) string {
	t.Helper()
	addr, err := uma.ParseAddress("$" + local + "@" + f.domain)
	if err != nil {
		t.Fatal(err)
	}
	req, err := uma.NewLnurlpRequest(key, addr, senderDomain, true, uma.Version1, at)
	if err != nil {
		t.Fatal(err)
	}
	u, err := req.URL()
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// payReq is a signed UMA payreq from $alice (of senderDomain, signed with
// key) asking for amount of currency (or msats when currency is "").
func (f *payFixture) payReq(t *testing.T, amount int64, currency, convert, identifier string, key *uma.PrivateKey, at time.Time) *uma.PayRequest {
	t.Helper()
	pr := &uma.PayRequest{Amount: amount, SendingCurrency: currency, ReceivingCurrency: convert,
		PayerData: &uma.PayerData{Identifier: identifier, Name: "Alice Sender", Compliance: &uma.CompliancePayerData{
			KycStatus: uma.KycVerified, NodePubKey: "02" + strings.Repeat("ab", 32),
			UtxoCallback: f.base + "/api/uma/utxoCallback?txid=x",
		}},
		PayeeData: uma.UMADataOptions("name"),
	}
	if err := pr.Sign(key, at); err != nil {
		t.Fatal(err)
	}
	return pr
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
