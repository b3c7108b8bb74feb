package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/webhook"
)

// receipt is one complete request the receiver got for a webhookId.
type receipt struct {
	start  time.Time
	sender string // the sending process: X-Bench-Sender, else the connection's owner; "" = unknown
	conn   uint64 // the TCP connection it came on (numbered from 1 by the receiver)
	// from is that connection while its owner is being looked up (see
	// receipts); nil when the request named its sender.
	from *connInfo
	body string
	// ep is the endpoint it was addressed to: the ep query parameter of
	// its URL ("" when the test has one endpoint, whose URL has none).
	ep string
}

// epParam is the query parameter that tells the receiver which endpoint a
// request was addressed to, when several endpoints share it.
const epParam = "ep"

// epVerifier checks the signatures of one endpoint's requests, with its secret.
type epVerifier struct {
	umaaas *webhook.BodyHMACVerifier // X-UMAaas-Signature
	std    *webhook.StandardVerifier // Standard Webhooks
}

// flight is one (webhookId, endpoint) pair: the unit of at-most-one-sender.
// The same webhookId goes to every endpoint at once, legitimately.
type flight struct{ id, ep string }

// epLabel names an endpoint in a message ("" when there is only one).
func epLabel(ep string) string {
	if ep == "" {
		return ""
	}
	return " to endpoint " + ep
}

// ownerWait is the most an answer waits for its connection's owner to be
// looked up, far below the engine's attempt timeout (2 s in the crash test).
const ownerWait = 250 * time.Millisecond

// connKey carries a connection's *connInfo in its requests' contexts.
type connKey struct{}

// connInfo is what the receiver knows of one TCP connection.
type connInfo struct {
	id   uint64 // numbered from 1 in accept order
	port int    // its client end's port
	// sender is the owning process, from owners; "" = unknown. It is
	// set before resolved closes; resolved is nil when nothing looks.
	sender   string
	resolved chan struct{}
}

// owner returns ci's sender once it has been looked up ("" if the
// receiver stops first).
func (ci *connInfo) owner(stop <-chan struct{}) string {
	if ci.resolved == nil {
		return ""
	}
	select {
	case <-ci.resolved:
		return ci.sender
	case <-stop:
		return ""
	}
}

// receiver is a loopback webhook receiver that records every webhookId it
// is sent, when, and with which body. It notices two requests for one
// webhookId in flight at once (two senders attempting one delivery), bad
// signatures, and a webhook-id header that disagrees with the body.
type receiver struct {
	// eps verifies the requests of each endpoint, by the ep query
	// parameter of the URL it was addressed to; nil = do not verify
	// (benchmarks), and record only each webhookId's first arrival.
	eps  map[string]epVerifier
	hold time.Duration // each request is held a random time up to this
	ln   net.Listener
	srv  *http.Server
	url  string

	mu       sync.Mutex
	inflight map[flight]int
	got      map[string][]receipt // by webhookId, every endpoint's
	first    map[string]time.Time
	problems []string
	n        int // complete requests
	notify   chan struct{}
	conns    atomic.Uint64 // connections accepted so far

	// owners, when set (before serve), names the processes at the client
	// ends of new connections to serverPort, by client port, for requests
	// without X-Bench-Sender (a port left out: unknown). lookUpOwners
	// calls it for the connections accepted since its last call, toLook.
	owners   func(clientPorts []int, serverPort int) map[int]string
	lookMu   sync.Mutex
	toLook   []*connInfo
	lookWake chan struct{}
	stop     chan struct{} // closed by Close
}

// newReceiver listens on a loopback port; serve starts answering.
func newReceiver(hold time.Duration) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{
		ln:       ln,
		hold:     hold,
		url:      "http://" + ln.Addr().String() + "/webhooks",
		inflight: map[flight]int{},
		got:      map[string][]receipt{},
		first:    map[string]time.Time{},
		notify:   make(chan struct{}, 1),
		lookWake: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second,
		// Numbering connections lets the checker tell that two requests
		// came from one process: a connection never outlives its process.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ci := &connInfo{id: rc.conns.Add(1)}
			if cl, ok := c.RemoteAddr().(*net.TCPAddr); ok && rc.owners != nil {
				// Looked up by lookUpOwners, not here: this runs in the
				// accept loop, and a lookup per connection (milliseconds
				// each, with the engine opening connections by the
				// thousand to many endpoints) held new connections in the
				// backlog for seconds — long enough for their senders to
				// die unknown, and for requests a killed process had sent
				// to arrive too late for a kill to explain their repeats.
				ci.port, ci.resolved = cl.Port, make(chan struct{})
				rc.lookMu.Lock()
				rc.toLook = append(rc.toLook, ci)
				rc.lookMu.Unlock()
				select {
				case rc.lookWake <- struct{}{}:
				default:
				}
			}
			return context.WithValue(ctx, connKey{}, ci)
		}}
	return rc, nil
}

// serve starts answering for one endpoint, at url; verify and std (nil =
// no verification) check each request's X-UMAaas-Signature and Standard
// Webhooks signature.
func (rc *receiver) serve(verify *webhook.BodyHMACVerifier, std *webhook.StandardVerifier) {
	var eps map[string]epVerifier
	if verify != nil {
		eps = map[string]epVerifier{"": {umaaas: verify, std: std}}
	}
	rc.serveEndpoints(eps)
}

// serveEndpoints starts answering for the endpoints of eps, each at url
// plus its key as the ep query parameter ("" = none), and verifies each
// request with the secret of the endpoint it was addressed to.
func (rc *receiver) serveEndpoints(eps map[string]epVerifier) {
	rc.eps = eps
	if rc.owners != nil {
		go rc.lookUpOwners()
	}
	go func() { _ = rc.srv.Serve(rc.ln) }()
}

// lookUpOwners names the owners of new connections, all those accepted
// since its last look at once (one read of /proc/net/tcp for them all),
// until the receiver closes.
func (rc *receiver) lookUpOwners() {
	port := rc.ln.Addr().(*net.TCPAddr).Port
	for {
		select {
		case <-rc.lookWake:
		case <-rc.stop:
			return // waiters see stop
		}
		rc.lookMu.Lock()
		batch := rc.toLook
		rc.toLook = nil
		rc.lookMu.Unlock()
		ports := make([]int, len(batch))
		for i, ci := range batch {
			ports[i] = ci.port
		}
		owners := rc.owners(ports, port)
		for _, ci := range batch {
			ci.sender = owners[ci.port]
			close(ci.resolved)
		}
	}
}

// endpointURL is the URL of the endpoint the receiver knows as key.
func (rc *receiver) endpointURL(key string) string {
	if key == "" {
		return rc.url
	}
	return rc.url + "?" + epParam + "=" + url.QueryEscape(key)
}

func (rc *receiver) Close() {
	close(rc.stop)
	_ = rc.srv.Close()
}

func (rc *receiver) problem(format string, args ...any) {
	rc.mu.Lock()
	if len(rc.problems) < 1000 {
		rc.problems = append(rc.problems, fmt.Sprintf(format, args...))
	}
	rc.mu.Unlock()
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	hdrID := r.Header.Get("webhook-id")
	ep := r.URL.Query().Get(epParam)
	if hdrID != "" {
		f := flight{hdrID, ep}
		rc.mu.Lock()
		if rc.inflight[f] > 0 {
			rc.problems = append(rc.problems, fmt.Sprintf("overlap: %s%s attempted by two senders at once", hdrID, epLabel(ep)))
		}
		rc.inflight[f]++
		rc.mu.Unlock()
		defer func() {
			rc.mu.Lock()
			rc.inflight[f]--
			rc.mu.Unlock()
		}()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return // the sender went away mid-request (killed): not a receipt
	}
	var env struct {
		WebhookID string `json:"webhookId"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.WebhookID == "" {
		rc.problem("request without a webhookId in its body (header %q)", hdrID)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	verifying := rc.eps != nil
	if verifying {
		v, ok := rc.eps[ep]
		if !ok {
			rc.problem("%s: request to %s, which is no endpoint's URL", env.WebhookID, r.URL)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if env.WebhookID != hdrID {
			rc.problem("webhook-id header %q but body webhookId %q%s", hdrID, env.WebhookID, epLabel(ep))
		}
		// Each with the secret of the endpoint the request was addressed
		// to: one signed with another endpoint's secret fails.
		if err := v.umaaas.Verify(r.Header, body); err != nil {
			rc.problem("%s%s: X-UMAaas-Signature does not verify: %v", env.WebhookID, epLabel(ep), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := v.std.Verify(r.Header, body); err != nil {
			rc.problem("%s%s: Standard Webhooks signature does not verify: %v", env.WebhookID, epLabel(ep), err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if rc.hold > 0 {
		time.Sleep(rand.N(rc.hold))
	}
	if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok && ci.resolved != nil && verifying {
		// The connection's owner is looked up while it is open (a closed
		// connection's is lost), so the answer waits for it — briefly:
		// an answer after the sender's attempt timeout would make a live
		// process try again, a repeat no kill explains.
		select {
		case <-ci.resolved:
		case <-rc.stop:
		case <-time.After(ownerWait):
		}
	}
	rc.mu.Lock()
	prev := rc.got[env.WebhookID]
	again := false // this endpoint already has this webhookId
	if verifying {
		for _, p := range prev {
			again = again || p.ep == ep
		}
		rcp := receipt{start: start, sender: r.Header.Get(senderHeader), body: string(body), ep: ep}
		if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok {
			rcp.conn = ci.id
			if rcp.sender == "" && ci.resolved != nil {
				rcp.from = ci // named by receipts, once looked up
			}
		}
		rc.got[env.WebhookID] = append(prev, rcp)
	} else if len(prev) == 0 {
		rc.got[env.WebhookID] = []receipt{{start: start}}
	}
	if _, ok := rc.first[env.WebhookID]; !ok {
		rc.first[env.WebhookID] = start
	}
	rc.n++
	rc.mu.Unlock()
	select {
	case rc.notify <- struct{}{}:
	default:
	}
	if again {
		// An endpoint that already processed this webhookId says so; the
		// sender counts 409 as delivered.
		w.WriteHeader(http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// createEndpoints creates n endpoints on rc, each with its own secret, and
// returns the receiver's keys for them and their verifiers. One endpoint
// keeps the receiver's plain URL (key ""), as the test always had; with
// more, endpoint i's URL carries ?ep=i.
func createEndpoints(ctx context.Context, svc *delivery.Service, rc *receiver, n int) ([]string, map[string]epVerifier, error) {
	keys := make([]string, n)
	eps := make(map[string]epVerifier, n)
	for i := range keys {
		if n > 1 {
			keys[i] = strconv.Itoa(i)
		}
		u := rc.endpointURL(keys[i])
		_, secret, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &u})
		if err != nil {
			return nil, nil, fmt.Errorf("create endpoint %d: %w", i, err)
		}
		if eps[keys[i]], err = newEpVerifier(secret); err != nil {
			return nil, nil, err
		}
	}
	return keys, eps, nil
}

// newEpVerifier checks both signatures with an endpoint's secret.
func newEpVerifier(secret string) (epVerifier, error) {
	umaaas, err := webhook.NewUMAaaSVerifier(secret)
	if err != nil {
		return epVerifier{}, err
	}
	std, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}})
	if err != nil {
		return epVerifier{}, err
	}
	return epVerifier{umaaas: umaaas, std: std}, nil
}

// receipts returns what the receiver recorded, by webhookId in arrival
// order, each receipt of a request that named no sender named by its
// connection's owner (waiting for the look-ups still under way).
func (rc *receiver) receipts() map[string][]receipt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range rc.got {
		for i := range rs {
			if rs[i].from != nil {
				rs[i].sender, rs[i].from = rs[i].from.owner(rc.stop), nil
			}
		}
	}
	return rc.got
}

// distinct is how many webhookIds have been received.
func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.first)
}

// arrival returns when webhookID first arrived.
func (rc *receiver) arrival(id string) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.first[id]
	return t, ok
}

// reset forgets everything received (between benchmark phases).
func (rc *receiver) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = map[string][]receipt{}
	rc.first = map[string]time.Time{}
	rc.n = 0
}

// hang is a receiver that accepts requests and never answers them: an
// endpoint that times out.
func hang() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/hook", func() { close(done); _ = srv.Close() }, nil
}
