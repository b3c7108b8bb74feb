package vasp

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
)

// The periodic reconciliation (Options.ReconcileInterval) and what it
// tells: metrics, and each mismatch logged at ERROR once per run.

// DefaultReconcileWindow is Options.ReconcileWindow's default: three days
// of payments, so that a run missed (a restart, the node down) is made up
// by the next ones.
const DefaultReconcileWindow = 72 * time.Hour

// reconcilePeriodicLimit bounds the payments one periodic run checks; its
// time is bounded by the interval.
const reconcilePeriodicLimit = 1_000_000

// reconcileMetrics are the periodic runs' metrics. Every process sharing
// a database runs its own and reads the same payments: take their max.
type reconcileMetrics struct {
	mismatches *prometheus.GaugeVec
	lastRun    prometheus.Gauge
	errors     prometheus.Counter
}

func newReconcileMetrics(reg prometheus.Registerer) (*reconcileMetrics, error) {
	m := &reconcileMetrics{}
	var err error
	if m.mismatches, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vaspd_reconciliation_mismatches",
		Help: "Payments on which vaspd's books and the Lightning node disagreed at the last periodic reconciliation, by kind.",
	}, []string{"kind"})); err != nil {
		return nil, err
	}
	if m.lastRun, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vaspd_reconciliation_last_run_timestamp_seconds",
		Help: "Unix time the last periodic reconciliation ended (0: none yet).",
	})); err != nil {
		return nil, err
	}
	if m.errors, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vaspd_reconciliation_errors_total",
		Help: "Periodic reconciliations that could not check every payment of their window: the payments could not be read, a node lookup failed, or the run ran out of time.",
	})); err != nil {
		return nil, err
	}
	return m, nil
}

// reconcileLoop reconciles the last ReconcileWindow every
// ReconcileInterval until ctx ends, the first time a minute after start
// (or the interval, if shorter).
func (s *Service) reconcileLoop(ctx context.Context) {
	every := s.opt.ReconcileInterval
	if every <= 0 {
		return
	}
	wait := min(every, time.Minute)
	for vaspd.Sleep(ctx, wait) {
		wait = every
		s.reconcileOnce(ctx)
	}
}

// reconcileOnce runs one periodic reconciliation and reports it.
func (s *Service) reconcileOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.opt.ReconcileInterval, time.Minute))
	defer cancel()
	until := s.clock.Now()
	r, err := s.Reconcile(ctx, until.Add(-s.opt.ReconcileWindow), until, reconcilePeriodicLimit)
	if errors.Is(err, ErrReconcileRunning) {
		return // a run asked through the platform API; the next tick tries again
	}
	if err != nil {
		s.log.Warn("reconciliation with the Lightning node: the payments could not be read; tried again next interval", "err", err)
		s.reconciles.errors.Inc()
		return
	}
	for _, k := range MismatchKinds {
		s.reconciles.mismatches.WithLabelValues(k).Set(float64(r.MismatchCounts[k]))
	}
	s.reconciles.lastRun.Set(float64(r.FinishedAt.Unix()))
	if !r.Complete || r.Unchecked > 0 {
		s.reconciles.errors.Inc()
	}
}

// logReconciliation logs r's mismatches at ERROR, each once, and r's
// summary: at WARN when it did not check everything. Never a secret: no
// invoice, preimage or user.
func (s *Service) logReconciliation(ctx context.Context, r Reconciliation) {
	for _, m := range r.Mismatches {
		s.log.ErrorContext(ctx, "reconciliation mismatch: vaspd's books and the Lightning node disagree on a payment",
			"kind", m.Kind, "transaction", m.TransactionID, "payment_hash", m.PaymentHash, "direction", m.Direction,
			"vaspd_status", m.Ours.Status, "vaspd_msats", m.Ours.Msats, "vaspd_fee_msats", m.Ours.FeeMsats, "ledger_msats", m.Ours.LedgerMsats,
			"node_state", m.Node.State, "node_msats", m.Node.Msats, "node_fee_msats", m.Node.FeeMsats)
	}
	total := 0
	for _, n := range r.MismatchCounts {
		total += n
	}
	if total > len(r.Mismatches) {
		s.log.ErrorContext(ctx, "reconciliation: more mismatches than logged", "mismatches", total, "logged", len(r.Mismatches))
	}
	attrs := []any{"since", r.Since, "until", r.Until, "transactions", r.Transactions, "mismatches", total,
		"unchecked", r.Unchecked, "incoming_pending", r.InFlight.IncomingPending, "outgoing_processing", r.InFlight.OutgoingProcessing}
	if !r.Complete || r.Unchecked > 0 {
		s.log.WarnContext(ctx, "reconciliation with the Lightning node did not check every payment",
			append(attrs, "why", r.Incomplete, "resume_since", r.ResumeSince, "err", r.cause)...)
		return
	}
	s.log.InfoContext(ctx, "reconciliation with the Lightning node done", attrs...)
}
