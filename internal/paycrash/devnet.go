package paycrash

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// devnetLink is the network between the sender's Lightning node and the
// receiver's: the sender's devnet peer is this loopback relay, which
// forwards to the receiver's devnet endpoint. It delays some payments on
// the way there and some answers on the way back, so that the kills find
// payments between the sender's claim and the receiver's settlement, and
// settled at the receiver but not yet known to the sender: windows of
// microseconds on loopback. It lives and dies with the receiver (up and
// down): while the receiver is down nothing listens on the relay's
// address either, so the sender's node sees what it would see of a dead
// peer (connections refused, connections cut), never an answer the
// receiver did not give.
type devnetLink struct {
	addr     string // where the sender's node connects
	target   string // the receiver's base URL
	maxDelay time.Duration
	client   *http.Client

	mu  sync.Mutex
	srv *http.Server
	gen context.CancelFunc // ends the current life's forwards

	held      atomic.Int64 // payments held before they are forwarded
	forwarded atomic.Int64 // payments at the receiver, not answered yet
	answering atomic.Int64 // answers held before they reach the sender
	cut       atomic.Int64 // payments whose connection the relay cut (the receiver died, or could not be reached)
	settled   atomic.Int64 // SETTLED answers relayed
}

func newDevnetLink(addr, target string, maxDelay time.Duration) *devnetLink {
	return &devnetLink{addr: addr, target: target, maxDelay: maxDelay,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

// inFlight is how many payments are in the link now: held, at the
// receiver, or answered and held.
func (l *devnetLink) inFlight() int64 { return l.held.Load() + l.forwarded.Load() + l.answering.Load() }

// up starts listening (the receiver is up).
func (l *devnetLink) up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the address was ours a moment ago
		if ln, err = net.Listen("tcp", l.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.gen = cancel
	l.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.relay(ctx, w, r) }),
		ReadHeaderTimeout: 10 * time.Second}
	go l.srv.Serve(ln)
	return nil
}

// down closes the listener and every connection, and abandons every
// forward (the receiver died): a payment in the link is cut wherever it
// is, its answer lost if it had one.
func (l *devnetLink) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		return
	}
	l.gen()
	l.srv.Close()
	l.srv = nil
	l.client.CloseIdleConnections()
}

// delay is how long a payment or answer is held: none for half of them,
// up to maxDelay for the rest.
func (l *devnetLink) delay() time.Duration {
	if l.maxDelay <= 0 || rand.IntN(2) == 0 {
		return 0
	}
	return rand.N(l.maxDelay)
}

func (l *devnetLink) relay(life context.Context, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		cutConn(w)
		return
	}
	pay := r.Method == http.MethodPost
	wait := func(d time.Duration, n *atomic.Int64) bool {
		n.Add(1)
		defer n.Add(-1)
		select {
		case <-time.After(d):
			return true
		case <-life.Done():
			return false
		case <-r.Context().Done():
			return false
		}
	}
	if pay && !wait(l.delay(), &l.held) {
		l.cut.Add(1)
		cutConn(w)
		return
	}
	out, err := http.NewRequestWithContext(life, r.Method, l.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		cutConn(w)
		return
	}
	out.Header = r.Header.Clone()
	if pay {
		l.forwarded.Add(1)
	}
	resp, err := l.client.Do(out)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	if pay {
		l.forwarded.Add(-1)
	}
	if err != nil {
		// The receiver is down or died with the payment: the sender's
		// node sees its connection cut, as it would have.
		if pay {
			l.cut.Add(1)
		}
		cutConn(w)
		return
	}
	if pay && !wait(l.delay(), &l.answering) {
		l.cut.Add(1)
		cutConn(w)
		return
	}
	if pay && bytes.Contains(answer, []byte(`"SETTLED"`)) {
		l.settled.Add(1)
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// cutConn closes the client's connection without an answer.
func cutConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	c, _, err := hj.Hijack()
	if err != nil {
		if errors.Is(err, http.ErrHijacked) {
			return
		}
		panic(http.ErrAbortHandler)
	}
	c.Close()
}
