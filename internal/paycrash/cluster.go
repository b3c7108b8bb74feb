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

// vasp is one VASP: one `vaspd serve` process, or in cluster mode
// (PostgreSQL) several sharing its database behind a front, whose address
// is the VASP's domain.
type vasp struct {
	name  string
	procs []*vaspd
	front *front // nil: one process, whose own address is the domain
}

// addr is where the VASP is reached: the front's, or its one process's.
func (g *vasp) addr() string {
	if g.front != nil {
		return g.front.addr
	}
	return g.procs[0].addr
}

// pick chooses the processes a kill of this VASP strikes: its one process;
// in a cluster, one of them at random, or all of them one time in three.
func (g *vasp) pick() []*vaspd {
	if len(g.procs) == 1 || rand.IntN(3) == 0 {
		return g.procs
	}
	return []*vaspd{g.procs[rand.IntN(len(g.procs))]}
}

// front is a small round-robin HTTP load balancer on a VASP's domain
// address, over its processes: the counterparty's UMA calls, the devnet
// payments and the platform API are each spread over them. A process
// counts as up from when its /readyz answered 200 (the driver's start
// returned) until it is killed, as a load balancer's health check would
// see it; a request the front sends to a process that is down anyway (the
// check lags the kill) and that cannot connect goes to the next one. A
// request whose process died after it was sent has its client's
// connection cut, without an answer, as a direct connection would have:
// the front never answers for a process.
type front struct {
	addr     string
	backends []*vaspd
	up       []atomic.Bool
	next     atomic.Uint64
	client   *http.Client

	// Requests sent on to another process because the one chosen could
	// not be connected to, and requests no process was up for.
	retried, unserved, cut atomic.Int64

	mu  sync.Mutex
	srv *http.Server
}

func newFront(addr string, backends []*vaspd) *front {
	return &front{addr: addr, backends: backends, up: make([]atomic.Bool, len(backends)),
		// A connection per request: a refused dial then proves the
		// request never reached the process, so sending it to another
		// is safe even for a POST.
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
}

// setUp marks backend p up or down.
func (f *front) setUp(p *vaspd, up bool) {
	for i, b := range f.backends {
		if b == p {
			f.up[i].Store(up)
		}
	}
}

// serve starts listening.
func (f *front) serve() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.forward), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return nil
}

func (f *front) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		f.srv.Close()
		f.srv = nil
	}
	f.client.CloseIdleConnections()
}

func (f *front) forward(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		cutConn(w)
		return
	}
	n := len(f.backends)
	first := int(f.next.Add(1) % uint64(n))
	tried := 0
	for i := range n {
		b := (first + i) % n
		if !f.up[b].Load() {
			continue
		}
		if tried > 0 {
			f.retried.Add(1)
		}
		tried++
		resp, err := f.send(r, body, f.backends[b].addr)
		if isDialError(err) {
			continue // never reached it: the next one
		}
		if err != nil {
			f.cut.Add(1)
			cutConn(w) // sent, the answer lost with the process
			return
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			f.cut.Add(1)
			cutConn(w)
			return
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
		return
	}
	// No process up: the connection closed unanswered, as a balancer
	// without a healthy backend that does not answer for it.
	f.unserved.Add(1)
	cutConn(w)
}

func (f *front) send(r *http.Request, body []byte, addr string) (*http.Response, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // the processes see the VASP's own host
	return f.client.Do(out)
}

// isDialError reports whether err is a connection that was never made.
func isDialError(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}

// startAll starts the VASP's processes at once, as an orchestrator starts
// replicas, and marks each up on the front once it is ready.
func (g *vasp) startAll(ctx context.Context) error {
	errs := make([]error, len(g.procs))
	var wg sync.WaitGroup
	for i, p := range g.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.start(ctx, p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// start starts p and, once it is ready, routes to it.
func (g *vasp) start(ctx context.Context, p *vaspd) error {
	if err := p.start(ctx); err != nil {
		return err
	}
	if g.front != nil {
		g.front.setUp(p, true)
	}
	return nil
}

// kill SIGKILLs p; the front sees it down afterwards, as a health check
// lags a crash.
func (g *vasp) kill(p *vaspd) error {
	err := p.kill()
	if g.front != nil {
		g.front.setUp(p, false)
	}
	return err
}

// credential reads the admin credential the VASP's first start printed:
// one of its processes printed it.
func (g *vasp) credential() (id, secret string, err error) {
	var errs []error
	for _, p := range g.procs {
		id, secret, err := p.credential()
		if err == nil {
			return id, secret, nil
		}
		errs = append(errs, err)
	}
	return "", "", errors.Join(errs...)
}
