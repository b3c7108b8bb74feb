package vasp_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// series returns the samples of metric name in reg, keyed by their labels
// as "k=v,k=v" (sorted by label name): counters and gauges by value,
// histograms by sample count.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(ls)
			out[strings.Join(ls, ",")] = metricValue(mf.GetType(), m)
		}
	}
	return out
}

func metricValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

// wantEndsCounted checks vaspd_payments_ended_total against the database:
// every payment in an end state counted once, under its direction, status
// and reason, and nothing else counted; and one duration observed per end.
func wantEndsCounted(t *testing.T, reg *prometheus.Registry, db *store.DB) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT direction, status, failure_reason, COUNT(*) FROM uma_transactions
		WHERE status IN ($1, $2, $3, $4) GROUP BY direction, status, failure_reason`,
		vasp.StatusCompleted, vasp.StatusFailed, vasp.StatusRejected, vasp.StatusExpired)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want, durations := map[string]float64{}, map[string]float64{}
	for rows.Next() {
		var dir, status, reason string
		var n float64
		if err := rows.Scan(&dir, &status, &reason, &n); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("direction=%s,reason=%s,status=%s", dir, reason, status)] += n
		durations[fmt.Sprintf("direction=%s,status=%s", dir, status)] += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := series(t, reg, "vaspd_payments_ended_total")
	// The series served at 0 from the start count nothing.
	maps.DeleteFunc(got, func(k string, v float64) bool { _, counted := want[k]; return v == 0 && !counted })
	if !maps.Equal(got, want) {
		t.Fatalf("vaspd_payments_ended_total %v, want (from the database) %v", got, want)
	}
	if got := series(t, reg, "vaspd_payment_duration_seconds"); !maps.Equal(got, durations) {
		t.Fatalf("vaspd_payment_duration_seconds counts %v, want %v", got, durations)
	}
}

// Payment metrics: each payment that ends is counted once, by the process
// that ended it, with its direction, status and reason, and its duration
// observed; a second look at an ended payment counts nothing. The open
// gauges say how many payments wait in each status and for how long.
func TestPaymentMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		w, s, reg := r.w, r.s, r.reg
		sender := w.counterparty(t, "vasp1.example")
		open := func(dir, status string) (float64, float64) {
			t.Helper()
			if err := s.ReadOpen(t.Context()); err != nil {
				t.Fatal(err)
			}
			key := "direction=" + dir + ",status=" + status
			return series(t, reg, "vaspd_payments_open")[key], series(t, reg, "vaspd_payment_oldest_open_seconds")[key]
		}
		if n, age := open(vasp.Incoming, vasp.StatusPending); n != 0 || age != 0 {
			t.Fatalf("no payment yet: open %v, oldest %v s", n, age)
		}

		// Two incoming payments wait for their invoices to be paid.
		for range 2 {
			_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
			wantCode(t, err, "")
		}
		w.clock.Advance(90 * time.Second)
		if n, age := open(vasp.Incoming, vasp.StatusPending); n != 2 || age < 89 || age > 91 {
			t.Fatalf("two invoices out for 90 s: open %v, oldest %v s", n, age)
		}
		// One is paid and credited by the sweep; a second sweep ends
		// nothing more.
		ps := paymentsIn(t, db, vasp.Incoming)
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: ps[0].invoice, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		s.SweepPending(t.Context())
		s.SweepPending(t.Context())
		if got := statusOf(t, s, ps[0].id); got != vasp.StatusCompleted+"/" {
			t.Fatalf("the paid payment is %s", got)
		}
		wantEndsCounted(t, reg, db)
		if got := series(t, reg, "vaspd_payments_ended_total")["direction=INCOMING,reason=,status=COMPLETED"]; got != 1 {
			t.Fatalf("incoming completed counted %v times, want 1", got)
		}
		if n, _ := open(vasp.Incoming, vasp.StatusPending); n != 1 {
			t.Fatalf("one invoice left open: open %v", n)
		}

		// Outgoing: one paid, one failing at the node.
		r.fund(t, 100_000)
		q, err := r.quote(t, r.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := s.ExecuteQuote(t.Context(), q.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute: %+v, %v", tr, err)
		}
		w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		q, err = r.quote(t, r.lookup(t), vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := s.ExecuteQuote(t.Context(), q.ID, ""); err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute at a failing node: %+v, %v", tr, err)
		}
		w.node.SetFaults(embedded.Faults{})
		// Executing an ended payment's quote again ends nothing.
		if _, err := s.ExecuteQuote(t.Context(), q.ID, ""); err != nil {
			t.Fatal(err)
		}
		wantEndsCounted(t, reg, db)
		ended := series(t, reg, "vaspd_payments_ended_total")
		if ended["direction=OUTGOING,reason=,status=COMPLETED"] != 1 || ended["direction=OUTGOING,reason=NO_ROUTE,status=FAILED"] != 1 {
			t.Fatalf("outgoing ends counted %v", ended)
		}
		if n, age := open(vasp.Outgoing, vasp.StatusProcessing); n != 0 || age != 0 {
			t.Fatalf("no payment in flight: open %v, oldest %v s", n, age)
		}

		// The invoice left open expires: EXPIRED, counted once, and the
		// gauges fall back to zero.
		w.clock.Advance(time.Hour)
		s.SweepPending(t.Context())
		s.SweepPending(t.Context())
		wantEndsCounted(t, reg, db)
		if got := series(t, reg, "vaspd_payments_ended_total")["direction=INCOMING,reason=INVOICE_EXPIRED,status=EXPIRED"]; got != 1 {
			t.Fatalf("expired counted %v times, want 1", got)
		}
		if n, age := open(vasp.Incoming, vasp.StatusPending); n != 0 || age != 0 {
			t.Fatalf("every invoice ended: open %v, oldest %v s", n, age)
		}
	})
}

// A database that does not answer (here: its every connection taken)
// does not hold up the gauges' loop: the read of the open payments gives
// up, and the node's gauges are still read. It used to wait for the
// database without end, vaspd_lightning_up keeping its last value.
func TestGaugesReadTheNodeWhenTheDatabaseHangs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		reg := prometheus.NewRegistry()
		// The embedded node keeps its channels in the database; a node
		// of its own (lnd) answers whatever the database does.
		utxos, err := w.node.UTXOs(t.Context(), lightning.Hash{})
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Registerer, o.Node = reg, separateNode{w.node, utxos} })
		// A look while the database answers, as the loop's first: on
		// SQLite it prepares the statement, which is then kept.
		if err := s.ReadOpen(t.Context()); err != nil {
			t.Fatal(err)
		}
		db.SQL().SetMaxOpenConns(1)
		conn, err := db.SQL().Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		done := make(chan struct{})
		go func() { s.ReadGauges(context.Background()); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the gauges' loop still waits for the database after 20 s")
		}
		if up := series(t, reg, "vaspd_lightning_up")[""]; up != 1 {
			t.Fatalf("vaspd_lightning_up %v with the node up", up)
		}
	})
}

// separateNode is a node whose channels are not in vaspd's database.
type separateNode struct {
	lightning.Node
	utxos []lightning.UTXO
}

func (n separateNode) UTXOs(context.Context, lightning.Hash) ([]lightning.UTXO, error) {
	return n.utxos, nil
}

// downNode is a node whose channels cannot be read.
type downNode struct{ lightning.Node }

func (downNode) UTXOs(context.Context, lightning.Hash) ([]lightning.UTXO, error) {
	return nil, fmt.Errorf("lnd listchannels: %w: connection refused", lightning.ErrUnavailable)
}

// The node gauges: reachable, its active channels and what it can send;
// a node that does not answer is down, its last balance kept. The embedded
// node can receive up to its balance's ceiling, 21M BTC.
func TestNodeMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		reg := prometheus.NewRegistry()
		s := w.service(t, func(o *vasp.Options) { o.Registerer = reg })
		if err := w.node.SetBalance(t.Context(), 123_456_789); err != nil {
			t.Fatal(err)
		}
		gauges := func() string {
			return fmt.Sprint(series(t, reg, "vaspd_lightning_up")[""], " ", series(t, reg, "vaspd_lightning_active_channels")[""],
				" ", series(t, reg, "vaspd_lightning_local_balance_msats")[""], " ", series(t, reg, "vaspd_lightning_inbound_msats")[""])
		}
		inbound := fmt.Sprint(float64(lightning.MaxAmountMsat - 123_456_789))
		s.ReadNode(t.Context())
		if got := gauges(); got != "1 1 1.23456789e+08 "+inbound {
			t.Fatalf("up, channels, balance, inbound: %s", got)
		}
		down := w.service(t, func(o *vasp.Options) { o.Registerer, o.Node = reg, downNode{w.node} })
		down.ReadNode(t.Context())
		if got := gauges(); got != "0 1 1.23456789e+08 "+inbound {
			t.Fatalf("node down: up, channels, balance, inbound %s", got)
		}
	})
}

// TestAlertedCountersServedAtZero: the counter series the alerts in
// deploy/prometheus select are served, at 0, from the start. A series born
// at its first Inc reads 1 at its first scrape, and Prometheus's increase()
// sees no rise in it: VaspdQuoteRefreshPriceRefused missed the first
// refused price of every process (often the only one), and
// VaspdOutgoingPaymentsFailing the first failure of each reason.
func TestAlertedCountersServedAtZero(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reg := newRefresher(t, db, nil).reg
		refreshes := series(t, reg, "vaspd_quote_refreshes_total")
		for _, o := range []string{"refreshed", "failed", "superseded", "refused_price"} {
			if v, ok := refreshes["outcome="+o]; !ok || v != 0 {
				t.Errorf("vaspd_quote_refreshes_total{outcome=%q} before any refresh: %v (served: %v), want 0", o, v, ok)
			}
		}
		ended := series(t, reg, "vaspd_payments_ended_total")
		want := []string{"direction=OUTGOING,reason=,status=COMPLETED"}
		for _, r := range []lightning.FailureReason{lightning.FailureTimeout, lightning.FailureNoRoute, lightning.FailureError,
			lightning.FailureIncorrectDetails, lightning.FailureInsufficientBalance, lightning.FailureCanceled,
			"INVOICE_EXPIRED", "PAYMENT_REFUSED"} {
			want = append(want, "direction=OUTGOING,reason="+string(r)+",status=FAILED")
		}
		// VaspdIncomingApprovalsFailing's.
		want = append(want, "direction=INCOMING,reason=PAYMENT_APPROVAL_TIMED_OUT,status=REJECTED",
			"direction=INCOMING,reason=PAYMENT_APPROVAL_WEBHOOK_ERROR,status=REJECTED")
		for _, k := range want {
			if v, ok := ended[k]; !ok || v != 0 {
				t.Errorf("vaspd_payments_ended_total{%s} before any payment: %v (served: %v), want 0", k, v, ok)
			}
		}
	})
}
