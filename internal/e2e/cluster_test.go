package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/daemon"
)

// cluster is one VASP served by several vaspd processes sharing one
// PostgreSQL database behind a round-robin load balancer, whose address is
// the VASP's domain: any request may reach any process.
type cluster struct {
	front *vaspProc   // the VASP as others see it: the balancer's address
	procs []*vaspProc // each process, reachable directly
}

// lockedBuffer is a bytes.Buffer a daemon may write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newCluster starts n processes of one VASP at once on a fresh PostgreSQL
// schema; peer is the other VASP's listener (its devnet node). The
// processes start concurrently, as an orchestrator starts replicas.
func newCluster(t *testing.T, n int, peer net.Listener, tune func(*daemon.Config)) (*cluster, []*lockedBuffer) {
	t.Helper()
	dbURL := postgresDB(t)
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{}
	var backends []*url.URL
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := &vaspProc{t: t, name: fmt.Sprintf("vasp2.%d", i+1), ln: ln}
		p.cfg = config(t, lb, peer, dbURL)
		p.cfg.Listen = ln.Addr().String()
		if tune != nil {
			tune(&p.cfg)
		}
		c.procs = append(c.procs, p)
		backends = append(backends, &url.URL{Scheme: "http", Host: ln.Addr().String()})
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(backends[next.Add(1)%uint64(len(backends))])
		r.Out.Host = r.In.Host // the processes see the VASP's own host
	}}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(lb)
	t.Cleanup(func() { srv.Close() })

	// Start every process at once, then wait until each is ready.
	outs := make([]*lockedBuffer, n)
	for i, p := range c.procs {
		outs[i] = &lockedBuffer{}
		p.launch(outs[i])
	}
	for _, p := range c.procs {
		waitReady(t, p.name, "http://"+p.ln.Addr().String())
	}
	first := c.procs[0]
	tokens, err := auth.NewTokens(context.Background(), first.daemon.DB(), vaspd.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.Create(context.Background(), "e2e", []vaspd.Permission{vaspd.PermView, vaspd.PermTransact, vaspd.PermManage})
	if err != nil {
		t.Fatal(err)
	}
	hooks := newHookReceiver(t)
	for _, p := range c.procs {
		p.clientID, p.secret, p.hooks = tok.ClientID, tok.ClientSecret, hooks
	}
	c.front = &vaspProc{t: t, name: "vasp2", domain: first.domain, base: first.base, daemon: first.daemon,
		clientID: tok.ClientID, secret: tok.ClientSecret, hooks: hooks}
	c.front.mustCall("PATCH", "/config", map[string]any{"webhookEndpoint": hooks.srv.URL}, nil)
	return c, outs
}

// direct is process p as a client that bypasses the balancer.
func (p *vaspProc) direct() *vaspProc {
	q := *p
	q.base = "http://" + p.ln.Addr().String()
	return &q
}

func waitReady(t *testing.T, name, base string) {
	t.Helper()
	// A new database migrates before it is ready: under -race, beside the
	// package's other daemons on a loaded two-core machine, that once took
	// over 30 s (CI, load 16). The bound names a daemon that never gets
	// ready; it does not time one.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(base + "/readyz")
		last := fmt.Sprint(err)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			last = resp.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %s", name, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterPayments: a receiving VASP run as two processes on one
// PostgreSQL database, started together, behind a load balancer. One
// admin credential is printed, both processes serve the same keys, and
// every payment is credited once with one webhook of each kind, whichever
// process answered which request and both running every background loop.
func TestClusterPayments(t *testing.T) {
	la, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, outs := newCluster(t, 2, la, nil)
	b := c.front
	a := &vaspProc{t: t, name: "vasp1", ln: la}
	a.cfg = config(t, la, la, postgresDB(t))
	a.cfg.Lightning.DevnetPeers = b.base
	if err := a.cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a.start()

	firsts := 0
	for _, o := range outs {
		firsts += strings.Count(o.String(), "First start")
	}
	if firsts != 1 {
		t.Fatalf("%d processes printed a first admin credential, want 1", firsts)
	}
	var keys [2]string
	for i, p := range c.procs {
		resp, err := http.Get(p.direct().base + "/.well-known/lnurlpubkey")
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			SigningPubKey    string `json:"signingPubKey"`
			EncryptionPubKey string `json:"encryptionPubKey"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		keys[i] = k.SigningPubKey + "/" + k.EncryptionPubKey
	}
	if keys[0] != keys[1] || keys[0] == "/" {
		t.Fatalf("the two processes serve different UMA keys: %q vs %q", keys[0], keys[1])
	}

	alice := a.user("alice", "USD", "Alice Sender")
	bob := b.user("bob", "EUR", "Bob Receiver")
	a.deposit(alice.ID, "USD", 100_00)
	bobAddr := "$bob@" + b.domain
	// Every other approval is deferred (202) and decided through the
	// balancer, so by either process.
	var approvals atomic.Int64
	b.hooks.mu.Lock()
	b.hooks.approve = func(m map[string]any) (int, any) {
		if approvals.Add(1)%2 == 1 {
			return 200, nil
		}
		id, _ := m["transaction"].(map[string]any)["id"].(string)
		go func() {
			time.Sleep(100 * time.Millisecond)
			b.mustCall("POST", "/transactions/"+id+"/approve", map[string]any{"receiverUserInfo": map[string]any{"FULL_NAME": "Bob R."}}, nil)
		}()
		return 202, nil
	}
	b.hooks.mu.Unlock()
	var want int64
	const payments = 4
	for i := 0; i < payments; i++ {
		q := quote(t, a, alice.ID, bobAddr, "RECEIVING", int64(1_00+i))
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx)
		if tx.Status != "COMPLETED" {
			t.Fatalf("execute %d: %+v", i, tx)
		}
		want += q.TotalReceivingAmount
	}
	eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == want })
	eventually(t, "webhooks", func() bool { return len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")) >= payments })
	time.Sleep(time.Second) // a second process's duplicate would come now
	if got := b.balance(bob.ID, "EUR"); got != want {
		t.Fatalf("bob has %d, want %d", got, want)
	}
	ids := map[string]bool{}
	for _, h := range b.hooks.find("INCOMING_PAYMENT", "COMPLETED") {
		id, _ := h["webhookId"].(string)
		ids[id] = true
	}
	if n := len(b.hooks.find("INCOMING_PAYMENT", "COMPLETED")); n != payments || len(ids) != payments {
		t.Fatalf("%d COMPLETED webhooks with %d ids, want %d", n, len(ids), payments)
	}
	// Each side's post-transaction callback reaches the other once.
	for _, p := range []*vaspProc{a, b} {
		eventually(t, "callbacks", func() bool {
			var n int
			err := p.daemon.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_utxo_callbacks`).Scan(&n)
			return err == nil && n >= payments
		})
	}
	time.Sleep(time.Second)
	for _, p := range []*vaspProc{a, b} {
		var n, txs int
		if err := p.daemon.DB().QueryRowContext(t.Context(), `SELECT COUNT(*), COUNT(DISTINCT transaction_id) FROM uma_utxo_callbacks`).Scan(&n, &txs); err != nil {
			t.Fatal(err)
		}
		if n != payments || txs != payments {
			t.Errorf("%s received %d callbacks about %d transactions, want %d", p.name, n, txs, payments)
		}
	}
	a.checkBooks()
	b.checkBooks()
}
