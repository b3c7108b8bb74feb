package vasp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
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

// reconcileRecordTimeout bounds the recording of a periodic run's result,
// which may come after the run used up its time.
const reconcileRecordTimeout = 10 * time.Second

// reconcileMetrics are the periodic runs' metrics. One process sharing a
// database runs each (takeReconcileTurn); the others show its result at
// their next tick (showReconcileResult). The errors counted are each
// process's own.
type reconcileMetrics struct {
	mismatches *prometheus.GaugeVec
	lastRun    prometheus.Gauge
	errors     prometheus.Counter

	mu    sync.Mutex
	shown map[string]int // the counts the mismatch gauges show
}

// show sets the mismatch gauges to counts, and keeps them.
func (m *reconcileMetrics) show(counts map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shown = maps.Clone(counts)
	for _, k := range MismatchKinds {
		m.mismatches.WithLabelValues(k).Set(float64(counts[k]))
	}
}

// showing is what the mismatch gauges show (nil: nothing yet).
func (m *reconcileMetrics) showing() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.shown)
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

// reconcileTurn is the settings row of the periodic reconciliation's
// turns: its updated_at is when a process last took one.
const reconcileTurn = "reconcile_turn"

// takeReconcileTurn reports whether this process runs the periodic
// reconciliation due at now: every process sharing the database ticks
// every ReconcileInterval, and one run per interval is enough (each reads
// the same payments and asks the same node), so a tick runs only if no
// process took a turn in the last nine tenths of an interval — not the
// whole of one, so that the process that took the last turn, ticking an
// interval later, is not beaten by its own clock's drift. If that process
// stops, another's next tick takes the turn. A turn stamped more than an
// interval after now is no turn of now but a clock that was wrong (the
// process's since stopped or set right): taken, or every process would
// wait for its clock to reach the stamp, days maybe, running nothing.
func (s *Service) takeReconcileTurn(ctx context.Context, now time.Time) (bool, error) {
	before, ahead := now.Add(-s.opt.ReconcileInterval*9/10), now.Add(s.opt.ReconcileInterval)
	took := false
	err := s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, '', $2)
			ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at
			WHERE settings.updated_at <= $3 OR settings.updated_at > $4
			RETURNING name`, reconcileTurn, store.Micros(now), store.Micros(before), store.Micros(ahead)).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // another process's turn
		}
		took = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("reconcile: take the turn: %w", err)
	}
	return took, nil
}

// reconcileResult is the last periodic run's outcome, kept in the turn's
// settings row so that every process's gauges tell it, wherever it ran.
type reconcileResult struct {
	FinishedAt int64          `json:"finishedAt"` // Unix seconds
	Mismatches map[string]int `json:"mismatches"`
	// Turn is when the run's turn was taken (Micros; the end of its
	// window): a result is recorded only over an older turn's
	// (recordReconcileResult). 0 in a result recorded before it was kept.
	Turn int64 `json:"turn,omitempty"`
}

// showReconcileResult sets the gauges from the last run's result, as the
// process that ran it recorded it ("" or unreadable: none yet, or one of
// another version; the gauges are left as they are).
func (s *Service) showReconcileResult(ctx context.Context) {
	res, ok := s.lastReconcileResult(ctx)
	if !ok {
		return
	}
	s.reconciles.show(res.Mismatches)
	s.reconciles.lastRun.Set(float64(res.FinishedAt))
}

// lastReconcileResult is the last periodic run's result as recorded,
// false when there is none (or it cannot be read).
func (s *Service) lastReconcileResult(ctx context.Context) (reconcileResult, bool) {
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, reconcileTurn).Scan(&v); err != nil {
		return reconcileResult{}, false
	}
	var res reconcileResult
	if json.Unmarshal([]byte(v), &res) != nil || res.Mismatches == nil {
		return reconcileResult{}, false
	}
	return res, true
}

// reconcileOnce runs one periodic reconciliation and reports it, if it
// is this process's turn (takeReconcileTurn), and records its result for
// the others; it reports whether it ran. A process whose turn it is not
// shows the last run's result.
func (s *Service) reconcileOnce(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, max(s.opt.ReconcileInterval, time.Minute))
	defer cancel()
	// A run asked through the platform API holds this process: the
	// turn is left to another process's tick (or this one's next), not
	// taken for a run that would not be made.
	if !s.reconcileMu.TryLock() {
		s.showReconcileResult(ctx)
		return false
	}
	until := s.clock.Now()
	if mine, err := s.takeReconcileTurn(ctx, until); err != nil || !mine {
		s.reconcileMu.Unlock()
		if err != nil {
			s.log.Warn("reconciliation with the Lightning node: cannot tell whose turn it is; tried again next interval", "err", err)
			s.reconciles.errors.Inc()
		}
		s.showReconcileResult(ctx)
		return false
	}
	defer s.reconcileMu.Unlock()
	r, err := s.reconcile(ctx, until.Add(-s.opt.ReconcileWindow), until, reconcilePeriodicLimit)
	if err != nil {
		s.log.Warn("reconciliation with the Lightning node: the payments could not be read; tried again next interval", "err", err)
		s.reconciles.errors.Inc()
		return true
	}
	// A run out of time ended with its context: the bookkeeping below
	// (a read and a write) has its own, or the gauges would fall for
	// want of the last result and the other processes never hear of the
	// run.
	ctx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), reconcileRecordTimeout)
	defer cancelRecord()
	counts := r.MismatchCounts
	if !r.Complete {
		// A run that did not check its whole window (the node down, a
		// lookup failed, out of time) found what it found among what it
		// checked: its counts are a floor. The last run's stand where
		// higher, or the node going down would clear the alert on a
		// mismatch nobody has looked at again. A last result that
		// cannot be read (another version's, a hand's edit, the
		// database failing) leaves what this process shows, the last
		// it knew: the partial counts alone would be recorded and shown
		// as a whole run's, lowering every kind it did not get to.
		prev, ok := s.lastReconcileResult(ctx)
		if !ok {
			prev.Mismatches = s.reconciles.showing()
		}
		counts = maps.Clone(counts)
		for k, n := range prev.Mismatches {
			counts[k] = max(counts[k], n)
		}
	}
	recorded, err := s.recordReconcileResult(ctx, reconcileResult{FinishedAt: r.FinishedAt.Unix(), Mismatches: counts, Turn: store.Micros(until)})
	if err != nil {
		s.log.Warn("reconciliation with the Lightning node: its result not recorded for the other processes' metrics", "err", err)
	}
	s.reconciles.show(counts)
	s.reconciles.lastRun.Set(float64(r.FinishedAt.Unix()))
	if err == nil && !recorded {
		// A later turn's run recorded its result first (this run was
		// slow): that one is the last run, shown here too.
		s.showReconcileResult(ctx)
	}
	if !r.Complete || r.Unchecked > 0 {
		s.reconciles.errors.Inc()
	}
	return true
}

// recordReconcileResult records res as the last periodic run's result,
// unless a run of a later turn recorded its own: a run may end after the
// next turn's (a slow node, a run of a whole interval), and its result,
// of an older window and an older state of the node, must not replace the
// newer one. The row is read and written in one transaction, locked (FOR
// UPDATE on PostgreSQL; SQLite has one writer). It reports whether res
// was recorded.
func (s *Service) recordReconcileResult(ctx context.Context, res reconcileResult) (bool, error) {
	v, _ := json.Marshal(res)
	recorded := false
	err := s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		recorded = false
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1 `+tx.Driver().ForUpdate(), reconcileTurn).Scan(&cur)
		if err != nil {
			return err
		}
		var prev reconcileResult
		if json.Unmarshal([]byte(cur), &prev) == nil && prev.Turn > res.Turn {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE settings SET value = $2 WHERE name = $1`, reconcileTurn, string(v)); err != nil {
			return err
		}
		recorded = true
		return nil
	})
	return recorded, err
}

// logReconciliation logs r's mismatches at ERROR, each once, and r's
// summary: at WARN when it did not check everything. Never a secret: no
// invoice, preimage or user.
func (s *Service) logReconciliation(ctx context.Context, r Reconciliation) {
	for _, m := range r.Mismatches {
		s.log.ErrorContext(ctx, "reconciliation mismatch: vaspd's books and the Lightning node disagree on a payment",
			"kind", m.Kind, "transaction", m.TransactionID, "payment_hash", m.PaymentHash, "direction", m.Direction,
			"vaspd_status", m.Ours.Status, "vaspd_msats", m.Ours.Msats, "invoice_msats", m.Ours.InvoiceMsats, "vaspd_fee_msats", m.Ours.FeeMsats, "ledger_msats", m.Ours.LedgerMsats,
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
