package vasp_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// heldNode is the embedded node whose payment lookups, once entered is
// told, wait for release and then answer as the node does.
type heldNode struct {
	*embedded.Node
	entered chan struct{}
	release chan struct{}
}

func (n heldNode) TrackPayment(ctx context.Context, h lightning.Hash) (lightning.Payment, error) {
	select {
	case n.entered <- struct{}{}:
	default:
	}
	<-n.release
	return n.Node.TrackPayment(ctx, h)
}

// A periodic run that ends after a later turn's run recorded its result
// (a slow node; the later process took its turn an interval on) does not
// overwrite that result with its older one: the processes' gauges go on
// telling the newest run. It did overwrite it.
func TestReconcileOlderRunDoesNotOverwriteNewer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newReconciler(t, db)
		r.failed(t)
		start := time.Now()
		clockA, clockB := vaspd.NewFakeClock(start), vaspd.NewFakeClock(start.Add(time.Hour))
		node := heldNode{Node: r.h.w.node, entered: make(chan struct{}, 1), release: make(chan struct{})}
		process := func(clock vaspd.Clock, node lightning.Node) (*vasp.Service, *prometheus.Registry) {
			reg := prometheus.NewRegistry()
			return r.h.w.service(t, func(o *vasp.Options) {
				o.ReconcileInterval, o.Clock, o.Registerer, o.Node = time.Hour, clock, reg, node
			}), reg
		}
		a, _ := process(clockA, node)
		b, _ := process(clockB, r.h.w.node)
		c, regC := process(clockB, r.h.w.node)
		ranA := make(chan bool)
		go func() { ranA <- a.ReconcileOnce(t.Context()) }()
		<-node.entered
		if !b.ReconcileOnce(t.Context()) {
			t.Fatal("b did not take the next interval's turn")
		}
		close(node.release)
		if !<-ranA {
			t.Fatal("a did not run")
		}
		if c.ReconcileOnce(t.Context()) {
			t.Fatal("c ran within b's interval")
		}
		if got, want := series(t, regC, "vaspd_reconciliation_last_run_timestamp_seconds")[""], float64(clockB.Now().Unix()); got != want {
			t.Fatalf("the last run shown ended at %v, want b's %v: a's older run overwrote it", got, want)
		}
	})
}
