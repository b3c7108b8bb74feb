package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vaspd/vaspd/webhook"
)

// receipt is one complete request the receiver got for a webhookId.
type receipt struct {
	start  time.Time
	sender string // the X-Bench-Sender header: the sending process
	body   string
}

// receiver is a loopback webhook receiver that records every webhookId it
// is sent, when, and with which body. It notices two requests for one
// webhookId in flight at once (two senders attempting one delivery), bad
// signatures, and a webhook-id header that disagrees with the body.
type receiver struct {
	verify *webhook.BodyHMACVerifier // nil = do not verify (benchmarks)
	std    *webhook.StandardVerifier // with verify
	hold   time.Duration             // each request is held a random time up to this
	ln     net.Listener
	srv    *http.Server
	url    string

	mu       sync.Mutex
	inflight map[string]int
	got      map[string][]receipt
	first    map[string]time.Time
	problems []string
	n        int // complete requests
	notify   chan struct{}
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
		inflight: map[string]int{},
		got:      map[string][]receipt{},
		first:    map[string]time.Time{},
		notify:   make(chan struct{}, 1),
	}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	return rc, nil
}

// serve starts answering; verify and std (nil = no verification) check each
// request's X-UMAaas-Signature and Standard Webhooks signature.
func (rc *receiver) serve(verify *webhook.BodyHMACVerifier, std *webhook.StandardVerifier) {
	rc.verify, rc.std = verify, std
	go func() { _ = rc.srv.Serve(rc.ln) }()
}

func (rc *receiver) Close() { _ = rc.srv.Close() }

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
	if hdrID != "" {
		rc.mu.Lock()
		if rc.inflight[hdrID] > 0 {
			rc.problems = append(rc.problems, fmt.Sprintf("overlap: %s attempted by two senders at once", hdrID))
		}
		rc.inflight[hdrID]++
		rc.mu.Unlock()
		defer func() {
			rc.mu.Lock()
			rc.inflight[hdrID]--
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
	if rc.verify != nil {
		if env.WebhookID != hdrID {
			rc.problem("webhook-id header %q but body webhookId %q", hdrID, env.WebhookID)
		}
		if err := rc.verify.Verify(r.Header, body); err != nil {
			rc.problem("%s: X-UMAaas-Signature does not verify: %v", env.WebhookID, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := rc.std.Verify(r.Header, body); err != nil {
			rc.problem("%s: Standard Webhooks signature does not verify: %v", env.WebhookID, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if rc.hold > 0 {
		time.Sleep(rand.N(rc.hold))
	}
	rc.mu.Lock()
	prev := rc.got[env.WebhookID]
	if rc.verify != nil {
		rc.got[env.WebhookID] = append(prev, receipt{start: start, sender: r.Header.Get(senderHeader), body: string(body)})
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
	if len(prev) > 0 && rc.verify != nil {
		// A receiver that already processed this webhookId says so; the
		// sender counts 409 as delivered.
		w.WriteHeader(http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusOK)
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
