//go:build unix

package lnd_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/lightning/lightningtest"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestRegtestContract runs the shared contract suite against the LND backend
// on a real regtest network: alice and bob are lnd nodes with a channel
// between them, each seen through its own lnd.Node and database.
func TestRegtestContract(t *testing.T) {
	net := sharedNetwork(t)
	h := &harness{
		rt:      map[lightning.Node]*rtNode{},
		current: map[*rtNode]lightning.Node{},
	}
	h.alice, h.bob = newRTNode(t, net.Alice), newRTNode(t, net.Bob)
	for _, r := range []*rtNode{h.alice, h.bob} {
		n := r.backend(t)
		h.rt[n], h.current[r] = r, n
	}
	lightningtest.Run(t, h)

	// The embedded node's BOLT11 is real: lnd decodes it, checks its
	// signature and recovers the embedded node's key as the payee.
	t.Run("EmbeddedInvoiceDecodesWithLND", func(t *testing.T) {
		ctx := testCtx(t)
		emb, err := embedded.Open(ctx, storetest.SQLite(t), embedded.Options{Network: "regtest"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { emb.Close() })
		dh := lightning.Hash(sha256.Sum256([]byte(`[["text/plain","pay $alice@vasp.example"]]`)))
		inv, err := emb.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 21_000_000, DescriptionHash: dh, Expiry: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := net.Alice.DecodePayReq(ctx, inv.PaymentRequest)
		if err != nil {
			t.Fatalf("lncli decodepayreq refused the embedded node's invoice: %v", err)
		}
		want := map[string]string{
			"destination":      emb.PubKey(),
			"payment_hash":     inv.PaymentHash.String(),
			"description_hash": dh.String(),
			"num_msat":         "21000000",
			"expiry":           "600",
		}
		for k, v := range want {
			if got, _ := dec[k].(string); got != v {
				t.Errorf("decodepayreq %s = %v, want %s", k, dec[k], v)
			}
		}
		if t.Failed() {
			t.Logf("decodepayreq: %v", dec)
		}
		// Through the backend lnd accepts the invoice too, and fails the
		// payment for the right, typed reason: the embedded node is not on
		// the regtest network's graph.
		a, _ := h.Nodes(t)
		p, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("paying a node off the graph: %+v, %v; want FAILED/NO_ROUTE", p, err)
		}
	})
}

// harness is the lightningtest.Harness of the LND backend. lnd nodes are
// slow to build, so one network serves the whole suite; Restart builds a new
// lnd.Node over the same database, which is all a vaspd restart is to the
// backend (lnd keeps running, as it does in production).
type harness struct {
	alice, bob *rtNode

	mu      sync.Mutex
	rt      map[lightning.Node]*rtNode
	current map[*rtNode]lightning.Node
}

func (h *harness) Nodes(t *testing.T) (alice, bob lightning.Node) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current[h.alice], h.current[h.bob]
}

func (h *harness) Restart(t *testing.T, n lightning.Node) lightning.Node {
	h.mu.Lock()
	r, ok := h.rt[n]
	h.mu.Unlock()
	if !ok {
		t.Fatalf("Restart of a node this harness did not make")
	}
	fresh := r.backend(t)
	// What vaspd does at start-up: resolve payments left in flight.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := fresh.ResolveInFlight(ctx); err != nil {
		t.Logf("ResolveInFlight after restart: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rt[fresh], h.current[r] = r, fresh
	return fresh
}

func (h *harness) Wait(t *testing.T, d time.Duration) { time.Sleep(d) }

func (h *harness) Config() lightningtest.Config {
	return lightningtest.Config{
		AmountMsat: 10_000,
		MaxFeeMsat: 10_000,
		// More than the whole alice→bob channel (10,000,000 sat).
		UnaffordableMsat: 20_000_000_000,
		Concurrency:      8,
		Timeout:          45 * time.Second,
	}
}
