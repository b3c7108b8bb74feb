package embedded_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/lightning/lightningtest"
	"github.com/vaspd/vaspd/store"
)

const testSecret = "devnet test secret"

// cluster is two embedded nodes, alice and bob, sharing a database (as two
// vaspd processes may) and paying each other over the devnet through real
// HTTP servers on loopback. It implements lightningtest.Harness, Balances
// and Holder.
type cluster struct {
	db    *store.DB
	clock *vaspd.FakeClock

	mu    sync.Mutex
	nodes [2]*embedded.Node
	opts  [2]embedded.Options
	srv   [2]*httptest.Server
	live  [2]atomic.Pointer[http.Handler]
}

var (
	_ lightningtest.Harness  = (*cluster)(nil)
	_ lightningtest.Balances = (*cluster)(nil)
	_ lightningtest.Holder   = (*cluster)(nil)
)

// newCluster starts alice and bob on db. edit, if not nil, adjusts each
// node's options (i is 0 for alice, 1 for bob) before it opens.
func newCluster(t testing.TB, db *store.DB, edit func(i int, o *embedded.Options)) *cluster {
	t.Helper()
	c := &cluster{db: db, clock: vaspd.NewFakeClock(time.Now().UTC())}
	for i := range c.srv {
		c.srv[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := c.live[i].Load()
			if h == nil {
				http.Error(w, "node down", http.StatusServiceUnavailable)
				return
			}
			(*h).ServeHTTP(w, r)
		}))
		t.Cleanup(c.srv[i].Close)
	}
	for i, name := range []string{"alice", "bob"} {
		c.opts[i] = embedded.Options{
			Alias:         name,
			KeyName:       "test." + name,
			FeeBaseMsat:   1,
			FeePPM:        1000,
			DevnetSecret:  testSecret,
			DevnetPeers:   []string{c.srv[1-i].URL},
			Clock:         c.clock,
			PollInterval:  50 * time.Millisecond,
			RetryInterval: 50 * time.Millisecond,
		}
		if edit != nil {
			edit(i, &c.opts[i])
		}
		c.open(t, i)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.nodes {
			n.Close()
		}
	})
	return c
}

func (c *cluster) open(t testing.TB, i int) *embedded.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := embedded.Open(ctx, c.db, c.opts[i])
	if err != nil {
		t.Fatalf("Open %s: %v", c.opts[i].Alias, err)
	}
	h := n.DevnetHandler()
	c.live[i].Store(&h)
	c.nodes[i] = n
	return n
}

func (c *cluster) alice() *embedded.Node { c.mu.Lock(); defer c.mu.Unlock(); return c.nodes[0] }
func (c *cluster) bob() *embedded.Node   { c.mu.Lock(); defer c.mu.Unlock(); return c.nodes[1] }

func (c *cluster) Nodes(t *testing.T) (alice, bob lightning.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[0], c.nodes[1]
}

func (c *cluster) index(t *testing.T, n lightning.Node) int {
	t.Helper()
	for i, m := range c.nodes {
		if lightning.Node(m) == n {
			return i
		}
	}
	t.Fatalf("node %v is not in the cluster", n)
	return -1
}

// Restart closes the node, as a stopping process would, and opens it again
// on the same database.
func (c *cluster) Restart(t *testing.T, n lightning.Node) lightning.Node {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.index(t, n)
	c.live[i].Store(nil)
	if err := c.nodes[i].Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return c.open(t, i)
}

func (c *cluster) Wait(t *testing.T, d time.Duration) { c.clock.Advance(d) }

func (c *cluster) Config() lightningtest.Config {
	return lightningtest.Config{Concurrency: 8, Timeout: 20 * time.Second}
}

func (c *cluster) Balance(t *testing.T, n lightning.Node) int64 {
	t.Helper()
	b, err := n.(*embedded.Node).Balance(context.Background())
	if err != nil {
		t.Fatalf("Balance: %v", err)
	}
	return b
}

func (c *cluster) SetBalance(t *testing.T, n lightning.Node, msat int64) {
	t.Helper()
	if err := n.(*embedded.Node).SetBalance(context.Background(), msat); err != nil {
		t.Fatalf("SetBalance: %v", err)
	}
}

func (c *cluster) Hold(t *testing.T, n lightning.Node) {
	n.(*embedded.Node).SetFaults(embedded.Faults{HoldInFlight: true})
}
