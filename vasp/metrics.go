package vasp

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
)

// paymentMetrics are what an operator watches payments by: how many end
// and how (a rise of FAILED or REJECTED, by reason), how long they take,
// and how many are still open and since when (a payment stuck in
// PROCESSING, an expiry sweep that stopped). The counters are counted by
// the process that ended each payment, after its commit: every end is
// made once, by one process (a conditional UPDATE), so summing over the
// processes sharing a database gives the whole. The open gauges are read
// from the database and so are the same in every process: take their max,
// not their sum.
type paymentMetrics struct {
	ended    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	open     *prometheus.GaugeVec
	oldest   *prometheus.GaugeVec

	// The Lightning node as the payments see it: reachable, and how much
	// it can send over its active channels.
	nodeUp       prometheus.Gauge
	nodeChannels prometheus.Gauge
	nodeLocal    prometheus.Gauge
	nodeInbound  prometheus.Gauge

	// Payment requests delivered to the payer's VASP, by outcome.
	requestDeliveries *prometheus.CounterVec
	// Payments of payment requests credited past their maxNumPayments.
	requestPastMax prometheus.Counter
	// Payments between two of our users completed by the books alone
	// (payHere).
	byBooks prometheus.Counter

	// Executes refused, by error code: no payment was made, so ended
	// never counts them.
	executesRefused *prometheus.CounterVec
}

// executeRefusals are the codes an execute is refused with (4xx), each
// served from the start; any other is counted as OTHER, so that the
// series stay bounded.
var executeRefusals = []string{vaspd.CodeQuoteNotFound, vaspd.CodeQuoteExpired, vaspd.CodeQuoteAlreadyExecuted,
	vaspd.CodeQuoteNotPending, vaspd.CodeInsufficientBalance, vaspd.CodeInvoiceAlreadyPaid, vaspd.CodeIdempotencyKeyReused,
	vaspd.CodeCounterpartyNotAllowed, vaspd.CodeInvalidReceiver, vaspd.CodeConflict, vaspd.CodeUserNotFound,
	vaspd.CodeInvalidAmount, vaspd.CodeInvalidCurrency, refusedOther}

// refusedOther labels a refusal whose code executeRefusals lacks.
const refusedOther = "OTHER"

// refused counts err, the answer of an execute, if it is a refusal (a
// 4xx): an internal error (5xx) is no answer about the quote, and is
// logged.
func (m *paymentMetrics) refused(err error) {
	var e *vaspd.Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
		return
	}
	code := refusedOther
	if slices.Contains(executeRefusals, e.Code) {
		code = e.Code
	}
	m.executesRefused.WithLabelValues(code).Inc()
}

// outgoingFailureReasons are the reasons an outgoing payment fails with:
// the node's, and those of a payment it refused (reasonOf).
var outgoingFailureReasons = []lightning.FailureReason{lightning.FailureTimeout, lightning.FailureNoRoute,
	lightning.FailureError, lightning.FailureIncorrectDetails, lightning.FailureInsufficientBalance,
	lightning.FailureCanceled, reasonInvoiceExpired, reasonPaymentRefused}

// approvalFailureReasons are the reasons an incoming payment is rejected
// with when the platform's approval does not come (VaspdIncomingApprovalsFailing).
var approvalFailureReasons = []string{reasonApprovalTimedOut, reasonApprovalWebhookError}

// openStatuses are the statuses a payment passes through before it ends,
// one gauge series each per direction.
var openStatuses = []string{StatusCreated, StatusPending, StatusProcessing}

// openGaugesEvery is how often the open gauges are read from the
// database: one indexed query (uma_transactions_status) per process.
const openGaugesEvery = 10 * time.Second

func newPaymentMetrics(reg prometheus.Registerer) (*paymentMetrics, error) {
	m := &paymentMetrics{}
	var err error
	if m.ended, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspd_payments_ended_total",
		Help: "Payments that reached an end state in this process, by direction (INCOMING, OUTGOING), status (COMPLETED, FAILED, REJECTED, EXPIRED) and failure reason (\"\" when completed).",
	}, []string{"direction", "status", "reason"})); err != nil {
		return nil, err
	}
	// The outgoing ends the alerts count are served from the start, at 0:
	// a series born at its first Inc reads 1 at its first scrape, and
	// increase() sees no rise in it (the first failure of each reason in
	// each process would be missed by VaspdOutgoingPaymentsFailing).
	m.ended.WithLabelValues(Outgoing, StatusCompleted, "")
	for _, r := range outgoingFailureReasons {
		m.ended.WithLabelValues(Outgoing, StatusFailed, string(r))
	}
	for _, r := range approvalFailureReasons {
		m.ended.WithLabelValues(Incoming, StatusRejected, r)
	}
	if m.duration, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "vaspd_payment_duration_seconds",
		Help: "From a payment's start (an outgoing execute, an incoming payreq) to its end, by direction and end status.",
		// 10 ms (a payment on one machine) to an hour (a held HTLC; an
		// incoming invoice left to expire).
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	}, []string{"direction", "status"})); err != nil {
		return nil, err
	}
	if m.open, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vaspd_payments_open",
		Help: "Payments not yet ended, by direction and status (CREATED, PENDING, PROCESSING), read from the database every 10 s: the same in every process sharing it.",
	}, []string{"direction", "status"})); err != nil {
		return nil, err
	}
	if m.oldest, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vaspd_payment_oldest_open_seconds",
		Help: "Age of the oldest payment not yet ended, by direction and status (0 when there is none), read with vaspd_payments_open.",
	}, []string{"direction", "status"})); err != nil {
		return nil, err
	}
	if m.nodeUp, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vaspd_lightning_up",
		Help: "1 if the Lightning node answered the last look at its channels (every 10 s), else 0.",
	})); err != nil {
		return nil, err
	}
	if m.nodeChannels, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vaspd_lightning_active_channels",
		Help: "The Lightning node's active channels at its last answer (the embedded node reports one).",
	})); err != nil {
		return nil, err
	}
	if m.nodeLocal, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vaspd_lightning_local_balance_msats",
		Help: "The Lightning node's local balance over its active channels at its last answer, msats: about what it can send.",
	})); err != nil {
		return nil, err
	}
	if m.requestDeliveries, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspd_payment_request_deliveries_total",
		Help: "Deliveries of payment requests to the payer's VASP made by this process, by outcome: DELIVERED, or the UMA error code of the failure (OTHER for a code UMA does not define).",
	}, []string{"outcome"})); err != nil {
		return nil, err
	}
	if m.requestPastMax, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vaspd_payment_request_payments_past_max_total",
		Help: "Payments of payment requests credited by this process past the request's maxNumPayments (a VASP paying two of its invoices, an invoice paid after its request expired or was cancelled): the money arrived and is the user's.",
	})); err != nil {
		return nil, err
	}
	if m.byBooks, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vaspd_payments_by_books_total",
		Help: "Payments between two users of this vaspd that this process completed by its books alone, its Lightning node not paying its own invoices (lnd): each counted once, also in vaspd_payments_ended_total for each side.",
	})); err != nil {
		return nil, err
	}
	if m.executesRefused, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspd_quote_executes_refused_total",
		Help: "Executes of quotes (POST /quotes/{id}/execute, /fbo/confirm, /sandbox/send) refused by this process, nothing paid, by error code (QUOTE_EXPIRED, INSUFFICIENT_BALANCE, …; OTHER for a code not listed).",
	}, []string{"code"})); err != nil {
		return nil, err
	}
	for _, c := range executeRefusals {
		m.executesRefused.WithLabelValues(c) // served from the start, at 0
	}
	if m.nodeInbound, err = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vaspd_lightning_inbound_msats",
		Help: "The Lightning node's remote balance over its active channels at its last answer, msats: about what it can receive.",
	})); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the collector of that name a
// Service of this process registered before (the demo and tests run
// several Services on one registry). A nil reg records nothing anywhere.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metric: %w", err)
	}
	return c, nil
}

// reasonLabel is a failure reason fit for a label: vaspd's reasons are
// constants (upper case words and underscores), and anything else — a
// future reason with another shape, a value from outside — is counted as
// OTHER, so that no input can grow the series.
var reasonLabel = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,47}$`)

// endedIn counts t, which tx moves to an end state, once tx has committed.
func (m *paymentMetrics) endedIn(tx *store.Tx, t Transaction) {
	tx.AfterCommit(func() { m.count(t) })
}

func (m *paymentMetrics) count(t Transaction) {
	reason := t.FailureReason
	if t.Status == StatusCompleted {
		reason = ""
	} else if reason != "" && !reasonLabel.MatchString(reason) {
		reason = "OTHER"
	}
	m.ended.WithLabelValues(t.Direction, t.Status, reason).Inc()
	if !t.CreatedAt.IsZero() && !t.UpdatedAt.IsZero() {
		m.duration.WithLabelValues(t.Direction, t.Status).Observe(max(t.UpdatedAt.Sub(t.CreatedAt).Seconds(), 0))
	}
}

// openGaugesTimeout bounds the read of the open payments: a database
// that does not answer (unreachable, its connections all taken) leaves
// the open gauges as they were, and must not hold up the node gauges
// read after it (vaspd_lightning_up would keep its last value).
const openGaugesTimeout = 5 * time.Second

// watchGauges sets the open payment and node gauges every
// openGaugesEvery until ctx ends.
func (s *Service) watchGauges(ctx context.Context) {
	for {
		s.readGauges(ctx)
		if !vaspd.Sleep(ctx, openGaugesEvery) {
			return
		}
	}
}

// readGauges is one look of watchGauges: the open payments, then the
// node, each within its own time.
func (s *Service) readGauges(ctx context.Context) {
	octx, cancel := context.WithTimeout(ctx, openGaugesTimeout)
	err := s.readOpen(octx)
	cancel()
	if err != nil && ctx.Err() == nil {
		s.log.Debug("payment gauges: cannot read the open payments; tried again later", "err", err)
	}
	s.readNode(ctx)
}

// readNode sets the node gauges from its active channels (UTXOs of the
// zero hash: each with its local balance and inbound capacity). A node that does not answer is
// down, its last channels and balance left as they were: an alert on the
// balance should not fire because the node cannot be asked, an alert on
// vaspd_lightning_up does.
func (s *Service) readNode(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, openGaugesEvery)
	defer cancel()
	utxos, err := s.opt.Node.UTXOs(ctx, lightning.Hash{})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("node gauges: the node did not answer; asked again later", "err", err)
		}
		s.payments.nodeUp.Set(0)
		return
	}
	var local, inbound int64
	for _, u := range utxos {
		local += u.AmountMsat
		inbound += u.InboundMsat
	}
	s.payments.nodeUp.Set(1)
	s.payments.nodeChannels.Set(float64(len(utxos)))
	s.payments.nodeLocal.Set(float64(local))
	s.payments.nodeInbound.Set(float64(inbound))
}

// readOpen reads how many payments are open, and the oldest's start, by
// direction and status, and sets the gauges: every series of
// openStatuses is set (0 when none), so an alert on the age sees it fall.
func (s *Service) readOpen(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT direction, status, COUNT(*), MIN(created_at) FROM uma_transactions
		WHERE status IN ($1, $2, $3) GROUP BY direction, status`, StatusCreated, StatusPending, StatusProcessing)
	if err != nil {
		return err
	}
	defer rows.Close()
	type open struct {
		n      int64
		oldest int64
	}
	read := map[[2]string]open{}
	for rows.Next() {
		var dir, status string
		var o open
		if err := rows.Scan(&dir, &status, &o.n, &o.oldest); err != nil {
			return err
		}
		read[[2]string{dir, status}] = o
	}
	if err := rows.Err(); err != nil {
		return err
	}
	now := s.clock.Now()
	m := s.payments
	for _, dir := range []string{Incoming, Outgoing} {
		for _, status := range openStatuses {
			if dir == Outgoing && status != StatusProcessing {
				continue // an outgoing payment starts PROCESSING
			}
			o, age := read[[2]string{dir, status}], 0.0
			if o.n > 0 {
				age = max(now.Sub(store.Time(o.oldest)).Seconds(), 0)
			}
			m.open.WithLabelValues(dir, status).Set(float64(o.n))
			m.oldest.WithLabelValues(dir, status).Set(age)
		}
	}
	return nil
}
