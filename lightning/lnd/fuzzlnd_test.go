package lnd_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// lndFuzz is an lnd REST server whose every answer a fuzz target chooses:
// for each call the backend makes (a route), an HTTP status and a body.
// Bodies may name the case's values, replaced before they are sent:
//
//	@H@ @HB@  the payment hash, hex and base64
//	@P@ @PB@  its preimage, hex and base64
//	@D@       the description hash asked for, base64
//	@NOW@     the time, Unix seconds
//	@PR@      the payment request of the invoice CreateInvoice asks in
//	          FuzzInvoice's seeds (regtest, 1 000 000 msat, the
//	          description hash, an hour, issued @NOW@), signed by the
//	          node's key (fuzzNodeKey); @PRK@ the same signed by another
//	          key, @PRT@ on testnet
//	@M@       the macaroon header the request carried (an echo, as a
//	          proxy's debugging page would)
//
// so that the fuzzer can reach answers that pass the backend's checks, and
// answers that quote a secret.
type lndFuzz struct {
	srv      *httptest.Server
	node     *lnd.Node
	db       *store.DB
	macaroon []byte
	logs     *fuzzLog

	mu      sync.Mutex
	answers map[string]fuzzAnswer
	vars    *strings.Replacer
	calls   map[string]int
	// After the first of a route's calls in once, a route's calls are
	// held open until the client goes away (a second subscription);
	// ListInvoices' once a subscription was made (before, one search may
	// read the pages twice).
	once   map[string]bool
	second chan struct{} // closed at the first held call
	// subFrom is the settle_index of each SubscribeInvoices call.
	subFrom []string
}

type fuzzAnswer struct {
	status int
	body   []byte
	hold   bool // after the body, keep the stream open until the client leaves
}

// fuzzStatus maps a fuzzed number onto an HTTP status: 0 is 200, n is
// 200 + n mod 400 (2xx to 5xx; 1xx are not answers).
func fuzzStatus(n uint16) int { return 200 + int(n%400) }

// fuzzCase is one case's values.
type fuzzCase struct {
	hash, preimage, descHash lightning.Hash
	now                      time.Time
}

var fuzzCounter struct {
	sync.Mutex
	n int
}

func newFuzzCase() fuzzCase {
	fuzzCounter.Lock()
	fuzzCounter.n++
	n := fuzzCounter.n
	fuzzCounter.Unlock()
	pre := sha256.Sum256([]byte(fmt.Sprintf("fuzz preimage %d %d", n, time.Now().UnixNano())))
	return fuzzCase{hash: sha256.Sum256(pre[:]), preimage: pre,
		descHash: sha256.Sum256([]byte(fmt.Sprintf("fuzz description %d", n))), now: time.Now().Truncate(time.Second)}
}

// fuzzNodeKey is the fuzzed lnd's node key: GetInfo's identity_pubkey
// unless a case answers GetInfo itself, and the key of @PR@.
var fuzzNodeKey = secp256k1.PrivKeyFromBytes([]byte("fuzzed lnd node key, 32 bytes.."))

// fuzzOtherKey signs @PRK@: an invoice of another node.
var fuzzOtherKey = secp256k1.PrivKeyFromBytes([]byte("another lnd node key, 32 bytes.."))

// fuzzPubkey is fuzzNodeKey's public key, hex.
var fuzzPubkey = hex.EncodeToString(fuzzNodeKey.PubKey().SerializeCompressed())

// fuzzPaymentRequest is the payment request @PR@ stands for in case c, on
// network, signed with key.
func fuzzPaymentRequest(c fuzzCase, network string, key *secp256k1.PrivateKey) string {
	pr, err := bolt11.Encode(bolt11.Request{Network: network, PaymentHash: c.hash, PaymentAddr: c.preimage,
		AmountMsat: 1_000_000, DescriptionHash: c.descHash, Timestamp: c.now, Expiry: time.Hour}, key)
	if err != nil {
		panic(err)
	}
	return pr
}

// fuzzMacaroon is long enough that no short field excerpt holds it by chance.
var fuzzMacaroon = []byte("\x02\x01\x03lnd\x02\x1ffuzz-macaroon-root-key-id-and-caveats")

func newLNDFuzz(f *testing.F, mod func(*lnd.Options)) *lndFuzz {
	z := &lndFuzz{macaroon: fuzzMacaroon, answers: map[string]fuzzAnswer{}, calls: map[string]int{},
		once: map[string]bool{}, logs: &fuzzLog{ended: make(chan struct{})}}
	z.srv = httptest.NewTLSServer(http.HandlerFunc(z.serve))
	f.Cleanup(z.srv.Close)
	z.db = storetest.SQLite(f)
	o := lnd.Options{
		RESTURL:    z.srv.URL,
		TLSCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: z.srv.Certificate().Raw}),
		Macaroon:   append([]byte(nil), z.macaroon...), DB: z.db, Network: "regtest",
		RequestTimeout: 300 * time.Millisecond, PayTimeout: 300 * time.Millisecond, PollInterval: time.Hour, ReconnectMax: 20 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(z.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&o)
	}
	n, err := lnd.New(o)
	if err != nil {
		f.Fatal(err)
	}
	z.node = n
	return z
}

// start sets the answers of a new case.
func (z *lndFuzz) start(c fuzzCase, answers map[string]fuzzAnswer, once ...string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.answers = answers
	vars := []string{"@HB@", b64(c.hash[:]), "@H@", c.hash.String(), "@PB@", b64(c.preimage[:]),
		"@P@", c.preimage.String(), "@D@", b64(c.descHash[:]), "@NOW@", strconv.FormatInt(c.now.Unix(), 10)}
	for _, a := range answers {
		if bytes.Contains(a.body, []byte("@PR")) { // signing is slow under the fuzzer's instrumentation: only when used
			vars = append(vars, "@PR@", fuzzPaymentRequest(c, bolt11.Regtest, fuzzNodeKey),
				"@PRK@", fuzzPaymentRequest(c, bolt11.Regtest, fuzzOtherKey), "@PRT@", fuzzPaymentRequest(c, bolt11.Testnet, fuzzNodeKey))
			break
		}
	}
	z.vars = strings.NewReplacer(vars...)
	z.calls = map[string]int{}
	z.subFrom = nil
	z.once = map[string]bool{}
	for _, r := range once {
		z.once[r] = true
	}
	z.second = make(chan struct{})
	z.logs.reset()
}

// route names the backend call a request is.
func route(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v1/getinfo":
		return "getinfo"
	case p == "/v1/invoices" && r.Method == http.MethodPost:
		return "addinvoice"
	case p == "/v1/invoices":
		if r.URL.Query().Get("index_offset") != "0" {
			return "listinvoices+" // a next page
		}
		return "listinvoices"
	case p == "/v1/invoices/subscribe":
		return "subscribe"
	case strings.HasPrefix(p, "/v1/invoice/"):
		return "lookupinvoice"
	case strings.HasPrefix(p, "/v1/payreq/"):
		return "payreq"
	case p == "/v2/router/send":
		return "send"
	case strings.HasPrefix(p, "/v2/router/track/"):
		return "track"
	case p == "/v1/channels":
		return "channels"
	}
	return "unknown"
}

func (z *lndFuzz) serve(w http.ResponseWriter, r *http.Request) {
	rt := route(r)
	z.mu.Lock()
	z.calls[rt]++
	key := strings.TrimSuffix(rt, "+")
	a, ok := z.answers[key]
	held := z.once[key] && z.calls[rt] > 1
	if key == "listinvoices" {
		held = z.once[key] && z.calls["subscribe"] > 0
	}
	if rt == "subscribe" {
		z.subFrom = append(z.subFrom, r.URL.Query().Get("settle_index"))
	}
	if held {
		select {
		case <-z.second:
		default:
			close(z.second)
		}
	}
	vars := z.vars
	z.mu.Unlock()
	if held {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	switch {
	case !ok && rt == "getinfo":
		a = fuzzAnswer{status: 200, body: []byte(`{"identity_pubkey":"` + fuzzPubkey +
			`","alias":"fuzz","chains":[{"chain":"bitcoin","network":"regtest"}]}`)}
	case !ok:
		a = fuzzAnswer{status: 404, body: []byte(`{"code":5,"message":"not found","details":[]}`)}
	}
	body := []byte(vars.Replace(string(a.body)))
	body = bytes.ReplaceAll(body, []byte("@M@"), []byte(r.Header.Get("Grpc-Metadata-macaroon")))
	w.WriteHeader(a.status)
	w.Write(body)
	// A 204 or 304 has no body to hold: it is complete with its headers,
	// and the client may send its next request on the connection, which a
	// handler still running would hold up.
	if a.hold && a.status != http.StatusNoContent && a.status != http.StatusNotModified {
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

// fuzzLog collects the backend's log entries (JSON, one a line).
type fuzzLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ended chan struct{} // closed at the first "invoice stream ended"
}

func (l *fuzzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte("invoice stream ended")) {
		select {
		case <-l.ended:
		default:
			close(l.ended)
		}
	}
	return l.buf.Write(p)
}

func (l *fuzzLog) reset() {
	l.mu.Lock()
	l.buf.Reset()
	l.ended = make(chan struct{})
	l.mu.Unlock()
}

// streamEnded is closed when a subscription's stream has ended (and it is
// about to resubscribe).
func (l *fuzzLog) streamEnded() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended
}

func (l *fuzzLog) entries() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (l *fuzzLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// maxFuzzError bounds an error's text (the rest client's bound is 480
// bytes and "…").
const maxFuzzError = 512

// checkFuzzError fails unless err reads as one bounded line of text that
// does not quote the macaroon.
func (z *lndFuzz) checkError(t *testing.T, what string, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > maxFuzzError {
		t.Fatalf("%s: error of %d bytes (more than %d): %.300q…", what, len(msg), maxFuzzError, msg)
	}
	for _, r := range msg {
		if r == '\u2028' || r == '\u2029' || r == '\u0085' || (unicode.IsControl(r) && r != '\t') {
			t.Fatalf("%s: error is not one line of text (%U): %q", what, r, msg)
		}
	}
	z.noMacaroon(t, what+": error", msg)
}

func (z *lndFuzz) noMacaroon(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(strings.ToLower(s), hex.EncodeToString(z.macaroon)) || strings.Contains(s, string(z.macaroon)) {
		t.Fatalf("%s quotes the macaroon: %.500q", what, s)
	}
}

// maxLogEntry bounds one log entry of the backend: a message, a payment
// hash, an index and an error.
const maxLogEntry = 2048

// checkLogs fails if a log entry quotes the macaroon or is unbounded.
func (z *lndFuzz) checkLogs(t *testing.T) {
	t.Helper()
	all := z.logs.text()
	z.noMacaroon(t, "the log", all)
	for _, line := range strings.Split(all, "\n") {
		if len(line) > maxLogEntry {
			t.Fatalf("log entry of %d bytes (more than %d): %.300q…", len(line), maxLogEntry, line)
		}
	}
}

// exact parses an integer lnd sent as a string, exactly (no int64 bound),
// for comparison with what the backend made of it. "" is 0.
func exact(s string) (*big.Int, bool) {
	if s == "" {
		return new(big.Int), true
	}
	return new(big.Int).SetString(s, 10)
}

// sameNumber reports whether v is exactly the integer s.
func sameNumber(v int64, s string) bool {
	x, ok := exact(s)
	return ok && x.Cmp(big.NewInt(v)) == 0
}

func inRange(v int64) bool { return v >= 0 && v <= lightning.MaxAmountMsat }

// The answers of the seeds: lnd's own shapes, with the case's values.
const (
	fuzzInvoiceOpen = `{"r_hash":"@HB@","r_preimage":"@PB@","payment_request":"@PR@","value":"1000",` +
		`"value_msat":"1000000","amt_paid_sat":"0","amt_paid_msat":"0","description_hash":"@D@","creation_date":"@NOW@",` +
		`"settle_date":"0","expiry":"3600","settle_index":"0","add_index":"1","state":"OPEN"}`
	fuzzInvoiceSettled = `{"r_hash":"@HB@","r_preimage":"@PB@","payment_request":"lnbcrt10u1fuzz","value":"1000",` +
		`"value_msat":"1000000","amt_paid_sat":"1000","amt_paid_msat":"1000000","description_hash":"@D@","creation_date":"@NOW@",` +
		`"settle_date":"@NOW@","expiry":"3600","settle_index":"7","add_index":"1","state":"SETTLED"}`
	fuzzPayReq = `{"destination":"03` + "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd" +
		`","payment_hash":"@H@","num_satoshis":"50","num_msat":"50000","timestamp":"@NOW@","expiry":"3600"}`
	fuzzPaymentInFlight = `{"payment_hash":"@H@","value_sat":"50","value_msat":"50000","status":"IN_FLIGHT",` +
		`"fee_msat":"0","payment_preimage":"0000000000000000000000000000000000000000000000000000000000000000",` +
		`"failure_reason":"FAILURE_REASON_NONE","creation_time_ns":"1700000000000000000","htlcs":[]}`
	fuzzPaymentSucceeded = `{"payment_hash":"@H@","value_sat":"50","value_msat":"50000","status":"SUCCEEDED",` +
		`"fee_sat":"1","fee_msat":"1000","payment_preimage":"@P@","failure_reason":"FAILURE_REASON_NONE",` +
		`"creation_time_ns":"1700000000000000000","htlcs":[{"status":"SUCCEEDED","resolve_time_ns":"1700000001000000000",` +
		`"route":{"total_amt_msat":"51000","hops":[{"chan_id":"123"}]}}]}`
	fuzzPaymentFailed = `{"payment_hash":"@H@","value_sat":"50","value_msat":"50000","status":"FAILED",` +
		`"fee_msat":"0","payment_preimage":"","failure_reason":"FAILURE_REASON_NO_ROUTE",` +
		`"creation_time_ns":"1700000000000000000","htlcs":[]}`
	fuzzNotInitiated = `{"error":{"code":2,"message":"payment isn't initiated"}}`
	fuzzChannels     = `{"channels":[{"active":true,"channel_point":"` + fuzzTxid + `:0","chan_id":"123","local_balance":"500000"},` +
		`{"active":false,"channel_point":"eeee:1","chan_id":"456","local_balance":"7"}]}`
	fuzzTxid = "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f"
)

func streamOf(messages ...string) string {
	var b strings.Builder
	for _, m := range messages {
		b.WriteString(`{"result":` + m + "}\n")
	}
	return b.String()
}

// wireInvoiceView is the part of lnd's Invoice message the properties
// compare with, decoded as lnd's JSON says (field names as the backend
// reads them).
type wireInvoiceView struct {
	RHash       string `json:"r_hash"`
	ValueMsat   string `json:"value_msat"`
	AmtPaidMsat string `json:"amt_paid_msat"`
	SettleIndex string `json:"settle_index"`
	State       string `json:"state"`
}

// hashOf decodes a base64 hash field, or reports false.
func hashOf(s string) (lightning.Hash, bool) {
	var h lightning.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, false
	}
	copy(h[:], b)
	return h, true
}
