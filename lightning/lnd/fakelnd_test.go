package lnd_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
)

// fakeLND answers the REST calls the backend makes with lnd's JSON shapes
// (protojson: int64 as strings, bytes as base64, hex string fields where lnd
// declares them), so the backend's error paths — failures, dropped streams,
// refused macaroons — can be driven deterministically. The real thing is
// exercised by the regtest tests.
type fakeLND struct {
	t        *testing.T
	srv      *httptest.Server
	macaroon []byte
	key      *secp256k1.PrivateKey // the node's: it signs the invoices' payment requests
	pubkey   string

	mu          sync.Mutex
	invoices    []map[string]any // lnd Invoice messages, in add order
	settleIndex uint64
	payReqs     map[string]map[string]any // bolt11 → PayReq message
	payments    map[string]map[string]any // hex hash → Payment message
	sends       []map[string]any          // bodies of SendPaymentV2 calls
	subs        []uint64                  // settle_index of each SubscribeInvoices call
	lists       []int                     // index_offset of each ListInvoices call
	liveSubs    int                       // SubscribeInvoices streams past their replay, now live
	badMacaroon int
	changed     chan struct{} // closed and replaced whenever state changes

	// onSend decides SendPaymentV2's answer: the payment messages to
	// stream, and whether to hold the stream open afterwards (until the
	// client goes away). nil streams IN_FLIGHT then SUCCEEDED. A message
	// with the key "error" is streamed as an error line instead (its
	// value the gateway's {"code", "message"}), and ends the stream.
	onSend func(hash string) (updates []map[string]any, hold bool)
	// refuse makes SendPaymentV2 answer with this error instead: by
	// default lnd's own refusal (HTTP 500, gRPC Unknown); refuseHTTP and
	// refuseCode, when set, are the HTTP status and gRPC code, and a
	// refuseCode of -1 answers refuse as a plain body (a proxy's page,
	// no gRPC status).
	refuse     string
	refuseHTTP int
	refuseCode int
	// dropAfter ends every subscription stream after that many settled
	// invoices (0: never), as a flaky proxy or restarting lnd would.
	dropAfter int
	// trackNotFoundPage makes TrackPaymentV2 answer as a reverse proxy or
	// a web server without the route does: HTTP 404 with a plain page, no
	// gRPC status (lnd never saw the call).
	trackNotFoundPage bool
	// trackUnknown makes TrackPaymentV2 answer as lnd does for a hash it
	// never saw, whatever it holds: a broken or hostile lnd (or a proxy
	// sending the call to another node).
	trackUnknown bool
	// intercept makes every call but GetInfo answer as lnd's RPC
	// interceptor does before a call reaches its handler — lnd not ready
	// (wallet locked, RPC server starting), the macaroon refused: this
	// message, gRPC Unknown, HTTP 500. interceptPaths, when set, limits
	// it to the calls whose path has one of these prefixes.
	intercept      string
	interceptPaths []string
	// decodeBroken makes DecodePayReq answer as a call that broke on its
	// way (HTTP decodeBroken, gRPC Unavailable; a plain page for 502/504).
	decodeBroken int
	// silent streams replay what was settled before they connected but
	// never push live settlements: a stream that is up but missed events.
	silent bool
	// invoiceExtra is merged into every invoice as it is added, and
	// paymentExtra into every payment message as it is streamed or
	// tracked (after the fake's own fields): a bogus or hostile answer,
	// such as an amount out of range. channels, when set, is ListChannels'
	// answer.
	invoiceExtra map[string]any
	paymentExtra map[string]any
	channels     []any
	// info is merged into GetInfo's answer: another network, chain or
	// alias.
	info map[string]any
	// payRequest, when set, makes each added invoice's payment_request
	// from what lnd would encode (r, to be signed with key) instead: an
	// invoice lnd issued other than it was asked for.
	payRequest func(r bolt11.Request, key *secp256k1.PrivateKey) string
	// onList is called with the index_offset of each ListInvoices call,
	// before it is answered.
	onList func(offset int)
	// endlessList makes ListInvoices answer every page with one more
	// (the first invoice), never an empty one.
	endlessList bool
	// answerAs holds, by r_hash (base64), fields that replace an
	// invoice's own in every answer that carries it (lookup, list,
	// stream), while the fake goes by its own: lnd's message for the
	// invoice garbled on its way.
	answerAs map[string]map[string]any
	// noInvoicesRPC answers CancelInvoice as an lnd built without the
	// invoicesrpc tag does: the gateway has no such route.
	noInvoicesRPC bool
}

func newFakeLND(t *testing.T) *fakeLND {
	key := secp256k1.PrivKeyFromBytes([]byte(strings.Repeat("fake lnd node key", 2)[:32]))
	f := &fakeLND{
		t: t, macaroon: []byte("\x02\x01\x03lnd-test-macaroon"),
		key: key, pubkey: hex.EncodeToString(key.PubKey().SerializeCompressed()),
		payReqs: map[string]map[string]any{}, payments: map[string]map[string]any{},
		changed: make(chan struct{}),
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// options are the backend's options for this fake, on db.
func (f *fakeLND) options(db *store.DB) lnd.Options {
	return lnd.Options{
		RESTURL:    f.srv.URL,
		TLSCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}),
		Macaroon:   f.macaroon, DB: db, Network: "regtest",
		RequestTimeout: 5 * time.Second, PollInterval: 50 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
	}
}

func (f *fakeLND) node(t *testing.T, db *store.DB, mod ...func(*lnd.Options)) *lnd.Node {
	t.Helper()
	o := f.options(db)
	for _, m := range mod {
		m(&o)
	}
	n, err := lnd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fakeLND) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// payReq registers a BOLT11 string lnd would decode to the given payment.
func (f *fakeLND) payReq(amountMsat int64, expiry time.Duration) (bolt11 string, hash lightning.Hash, preimage lightning.Hash) {
	f.mu.Lock()
	defer f.mu.Unlock()
	preimage = sha256.Sum256([]byte(fmt.Sprintf("preimage %d %d", len(f.payReqs), time.Now().UnixNano())))
	hash = sha256.Sum256(preimage[:])
	bolt11 = fmt.Sprintf("lnbcrt%dn1fake%d", amountMsat/100, len(f.payReqs))
	f.payReqs[bolt11] = map[string]any{
		"destination": "03" + strings.Repeat("cd", 32), "payment_hash": hash.String(),
		"num_satoshis": strconv.FormatInt(amountMsat/1000, 10), "num_msat": strconv.FormatInt(amountMsat, 10),
		"timestamp": strconv.FormatInt(time.Now().Unix(), 10), "expiry": strconv.FormatInt(int64(expiry/time.Second), 10),
		"preimage": preimage.String(), // not lnd's; the fake pays with it
	}
	return bolt11, hash, preimage
}

// settle settles the invoice with this hash, as an incoming payment of its
// amount would.
func (f *fakeLND) settle(hash lightning.Hash) { f.settlePaid(hash, 0) }

// settlePaid settles the invoice with this hash for paidMsat (0: its
// amount), as lnd does an overpaid invoice: amt_paid_msat is what the
// HTLCs carried.
func (f *fakeLND) settlePaid(hash lightning.Hash, paidMsat int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, inv := range f.invoices {
		if inv["r_hash"] == b64(hash[:]) && inv["state"] == "OPEN" {
			f.settleIndex++
			inv["state"], inv["settle_index"] = "SETTLED", strconv.FormatUint(f.settleIndex, 10)
			inv["amt_paid_msat"], inv["settle_date"] = inv["value_msat"], strconv.FormatInt(time.Now().Unix(), 10)
			if paidMsat != 0 {
				inv["amt_paid_msat"] = strconv.FormatInt(paidMsat, 10)
			}
			// lnd's amt_paid_sat is amt_paid_msat in whole satoshis.
			if msat, err := strconv.ParseInt(inv["amt_paid_msat"].(string), 10, 64); err == nil {
				inv["amt_paid_sat"] = strconv.FormatInt(msat/1000, 10)
			}
			f.notify()
			return
		}
	}
	f.t.Errorf("fake lnd: no open invoice %s", hash)
}

// addSettled adds an invoice that is already settled.
func (f *fakeLND) addSettled(t *testing.T, amountMsat int64) lightning.Hash {
	hash := f.addInvoice(map[string]any{"value_msat": strconv.FormatInt(amountMsat, 10), "expiry": "600"})
	f.settle(hash)
	return hash
}

func (f *fakeLND) addInvoice(req map[string]any) lightning.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	preimage := sha256.Sum256([]byte(fmt.Sprintf("invoice %d %d", len(f.invoices), time.Now().UnixNano())))
	hash := lightning.Hash(sha256.Sum256(preimage[:]))
	inv := map[string]any{
		"r_hash": b64(hash[:]), "r_preimage": b64(preimage[:]), "payment_request": "lnbcrt1fakeinvoice" + hash.String()[:8],
		"value": "0", "value_msat": "0", "amt_paid_msat": "0", "creation_date": strconv.FormatInt(time.Now().Unix(), 10),
		"settle_date": "0", "expiry": "86400", "settle_index": "0", "state": "OPEN",
		"add_index": strconv.Itoa(len(f.invoices) + 1), "description_hash": nil,
	}
	for k, v := range req {
		inv[k] = v
	}
	// lnd's value is value_msat in whole satoshis.
	if _, ok := req["value"]; !ok {
		if msat, err := strconv.ParseInt(fmt.Sprint(inv["value_msat"]), 10, 64); err == nil {
			inv["value"] = strconv.FormatInt(msat/1000, 10)
		}
	}
	if pr := f.encode(inv, hash, preimage); pr != "" {
		inv["payment_request"] = pr
	}
	for k, v := range f.invoiceExtra {
		inv[k] = v
	}
	f.invoices = append(f.invoices, inv)
	f.notify()
	return hash
}

// answer is the invoice inv as lnd's answers carry it: with f.answerAs's
// fields for it. f.mu is held.
func (f *fakeLND) answer(inv map[string]any) map[string]any {
	over, ok := f.answerAs[fmt.Sprint(inv["r_hash"])]
	if !ok {
		return inv
	}
	out := maps.Clone(inv)
	maps.Copy(out, over)
	return out
}

// encode is the payment request lnd would issue for the invoice inv, as
// f.payRequest has it; "" for an invoice whose fields do not make one
// (a test's bogus amount).
func (f *fakeLND) encode(inv map[string]any, hash, preimage lightning.Hash) string {
	amount, err1 := strconv.ParseInt(fmt.Sprint(inv["value_msat"]), 10, 64)
	created, err2 := strconv.ParseInt(fmt.Sprint(inv["creation_date"]), 10, 64)
	expiry, err3 := strconv.ParseInt(fmt.Sprint(inv["expiry"]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || amount < 0 || amount > lightning.MaxAmountMsat || expiry <= 0 || expiry > 365*24*3600 {
		return ""
	}
	r := bolt11.Request{Network: bolt11.Regtest, PaymentHash: hash, PaymentAddr: sha256.Sum256(preimage[:16]), AmountMsat: amount,
		Timestamp: time.Unix(created, 0), Expiry: time.Duration(expiry) * time.Second, Description: "fake lnd invoice"}
	if dh, ok := inv["description_hash"].(string); ok {
		if h, ok := hashOf(dh); ok {
			r.DescriptionHash, r.Description = h, ""
		}
	}
	if f.payRequest != nil {
		return f.payRequest(r, f.key)
	}
	return fakeSign(f.t, r, f.key)
}

// fakeSign encodes r signed with key.
func fakeSign(t *testing.T, r bolt11.Request, key *secp256k1.PrivateKey) string {
	pr, err := bolt11.Encode(r, key)
	if err != nil {
		t.Errorf("fake lnd: encode an invoice: %v", err)
	}
	return pr
}

var fakeChannelPoint = strings.Repeat("7f", 32) + ":0"

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// grpcError is the gateway's error body for a gRPC status.
func grpcError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

func (f *fakeLND) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Grpc-Metadata-macaroon") != hex.EncodeToString(f.macaroon) {
		f.mu.Lock()
		f.badMacaroon++
		f.mu.Unlock()
		grpcError(w, http.StatusInternalServerError, 2, "verification failed: signature mismatch after caveat verification")
		return
	}
	p := r.URL.Path
	f.mu.Lock()
	intercept := f.intercept
	if len(f.interceptPaths) > 0 && !slices.ContainsFunc(f.interceptPaths, func(prefix string) bool { return strings.HasPrefix(p, prefix) }) {
		intercept = ""
	}
	f.mu.Unlock()
	if intercept != "" && p != "/v1/getinfo" {
		grpcError(w, http.StatusInternalServerError, 2, intercept)
		return
	}
	switch {
	case r.Method == http.MethodGet && p == "/v1/getinfo":
		info := map[string]any{"identity_pubkey": f.pubkey, "alias": "fake",
			"chains": []any{map[string]any{"chain": "bitcoin", "network": "regtest"}}, "synced_to_chain": true}
		f.mu.Lock()
		maps.Copy(info, f.info)
		f.mu.Unlock()
		writeJSON(w, 200, info)
	case r.Method == http.MethodPost && p == "/v1/invoices":
		var req map[string]any
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			grpcError(w, 400, 3, err.Error())
			return
		}
		hash := f.addInvoice(req)
		writeJSON(w, 200, map[string]any{"r_hash": b64(hash[:]), "payment_request": "lnbcrt1fake", "add_index": "1"})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/invoice/"):
		want, _ := hex.DecodeString(strings.TrimPrefix(p, "/v1/invoice/"))
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, inv := range f.invoices {
			if inv["r_hash"] == b64(want) {
				writeJSON(w, 200, f.answer(inv))
				return
			}
		}
		grpcError(w, 404, 5, "there are no existing invoices")
	case r.Method == http.MethodGet && p == "/v1/invoices":
		f.mu.Lock()
		onList := f.onList
		f.mu.Unlock()
		if onList != nil {
			onList(atoi(r.URL.Query().Get("index_offset")))
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		// lnd's paging: the invoices after add index index_offset, at
		// most num_max_invoices (lnd's default 100), in add order;
		// last_index_offset is the add index of the last one.
		q := r.URL.Query()
		offset, limit := atoi(q.Get("index_offset")), atoi(q.Get("num_max_invoices"))
		if limit <= 0 {
			limit = 100
		}
		f.lists = append(f.lists, offset)
		if f.endlessList {
			// A hostile or broken lnd: always one more page.
			writeJSON(w, 200, map[string]any{"invoices": []any{f.answer(f.invoices[0])},
				"last_index_offset": strconv.Itoa(offset + 1), "first_index_offset": strconv.Itoa(offset + 1)})
			return
		}
		invoices := []map[string]any{}
		for i := offset; i >= 0 && i < len(f.invoices) && len(invoices) < limit; i++ {
			invoices = append(invoices, f.answer(f.invoices[i]))
		}
		first, last := 0, 0
		if len(invoices) > 0 {
			first, last = offset+1, offset+len(invoices)
		}
		writeJSON(w, 200, map[string]any{"invoices": invoices, "last_index_offset": strconv.Itoa(last),
			"first_index_offset": strconv.Itoa(first)})
	case r.Method == http.MethodGet && p == "/v1/invoices/subscribe":
		f.subscribe(w, r)
	case r.Method == http.MethodGet && p == "/v1/channels":
		f.mu.Lock()
		channels := f.channels
		f.mu.Unlock()
		if channels == nil {
			channels = []any{
				map[string]any{"active": true, "channel_point": fakeChannelPoint, "chan_id": "123", "local_balance": "500000", "remote_balance": "250000"},
				map[string]any{"active": false, "channel_point": strings.Repeat("ee", 32) + ":1", "chan_id": "456", "local_balance": "7", "remote_balance": "9"},
			}
		}
		writeJSON(w, 200, map[string]any{"channels": channels})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/payreq/"):
		pr, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/v1/payreq/"))
		f.mu.Lock()
		dec, ok := f.payReqs[pr]
		broken := f.decodeBroken
		f.mu.Unlock()
		switch {
		case broken == http.StatusServiceUnavailable:
			grpcError(w, broken, 14, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:10009: connect: connection refused\"")
			return
		case broken != 0:
			w.WriteHeader(broken)
			fmt.Fprintf(w, "<html><head><title>%d</title></head></html>", broken)
			return
		case strings.HasPrefix(pr, "lnbc1"):
			grpcError(w, 500, 2, "invoice not for current active network 'regtest'")
			return
		case !ok:
			grpcError(w, 500, 2, "invalid index of 1")
			return
		}
		writeJSON(w, 200, dec)
	case r.Method == http.MethodPost && p == "/v2/router/send":
		f.send(w, r)
	case r.Method == http.MethodPost && p == "/v2/invoices/cancel":
		f.cancel(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v2/router/track/"):
		raw, err := base64.URLEncoding.DecodeString(strings.TrimPrefix(p, "/v2/router/track/"))
		if err != nil {
			grpcError(w, 400, 3, "bad hash")
			return
		}
		hash := hex.EncodeToString(raw)
		// Copies: the test changes the stored payment while a stream
		// sends it.
		f.mu.Lock()
		pay, ok := f.payments[hash]
		pay = maps.Clone(pay)
		page := f.trackNotFoundPage
		ok = ok && !f.trackUnknown
		changed := f.changed
		f.mu.Unlock()
		if page {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if !ok {
			// What lnd's gateway answers for a payment it never saw.
			writeJSON(w, 500, map[string]any{"error": map[string]any{"code": 2, "message": "payment isn't initiated"}})
			return
		}
		// As lnd: the payment's state, then its updates until it is
		// final.
		for {
			json.NewEncoder(w).Encode(map[string]any{"result": pay})
			w.(http.Flusher).Flush()
			if pay["status"] == "SUCCEEDED" || pay["status"] == "FAILED" {
				return
			}
			select {
			case <-changed:
			case <-r.Context().Done():
				return
			}
			f.mu.Lock()
			pay, changed = maps.Clone(f.payments[hash]), f.changed
			f.mu.Unlock()
		}
	default:
		grpcError(w, 404, 5, "Not Found")
	}
}

// cancel is the invoices sub-server's CancelInvoice, with lnd's answers:
// its refusals are plain errors (gRPC Unknown, HTTP 500).
func (f *fakeLND) cancel(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noInvoicesRPC {
		grpcError(w, 404, 5, "Not Found")
		return
	}
	var req struct {
		PaymentHash string `json:"payment_hash"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		grpcError(w, 400, 3, err.Error())
		return
	}
	for _, inv := range f.invoices {
		if inv["r_hash"] != req.PaymentHash {
			continue
		}
		switch inv["state"] {
		case "SETTLED":
			grpcError(w, 500, 2, "invoice already settled")
		default:
			inv["state"] = "CANCELED"
			f.notify()
			writeJSON(w, 200, map[string]any{})
		}
		return
	}
	grpcError(w, 500, 2, "unable to locate invoice")
}

func (f *fakeLND) subscribe(w http.ResponseWriter, r *http.Request) {
	cursor, _ := strconv.ParseUint(r.URL.Query().Get("settle_index"), 10, 64)
	f.mu.Lock()
	f.subs = append(f.subs, cursor)
	f.mu.Unlock()
	w.WriteHeader(200)
	sent := 0
	live := false
	for {
		f.mu.Lock()
		var batch, answers []map[string]any
		for _, inv := range f.invoices {
			idx, _ := strconv.ParseUint(inv["settle_index"].(string), 10, 64)
			if inv["state"] == "SETTLED" && idx > cursor {
				batch = append(batch, inv)
			}
		}
		sort.Slice(batch, func(i, j int) bool {
			a, _ := strconv.Atoi(batch[i]["settle_index"].(string))
			b, _ := strconv.Atoi(batch[j]["settle_index"].(string))
			return a < b
		})
		for _, inv := range batch {
			answers = append(answers, f.answer(inv))
		}
		changed := f.changed
		silent, dropAfter := f.silent, f.dropAfter
		f.mu.Unlock()
		if !(live && silent) {
			for i, inv := range batch {
				json.NewEncoder(w).Encode(map[string]any{"result": answers[i]})
				w.(http.Flusher).Flush()
				cursor, _ = strconv.ParseUint(inv["settle_index"].(string), 10, 64)
				sent++
				if dropAfter > 0 && sent >= dropAfter {
					return
				}
			}
		}
		if !live {
			f.mu.Lock()
			f.liveSubs++
			f.mu.Unlock()
		}
		live = true
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func fctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}
