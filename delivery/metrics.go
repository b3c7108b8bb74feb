package delivery

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are registered on the Registerer given in Options, never on the
// global registry. A nil *metrics records nothing.
type metrics struct {
	outcomes *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	backlog  prometheus.Gauge
	oldest   prometheus.Gauge
	streaks  *prometheus.GaugeVec

	mu    sync.Mutex
	shown map[string]bool // endpoints with a streak series
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		shown: map[string]bool{},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaspd_webhook_deliveries_total",
			Help: "Webhook attempt outcomes: delivered, retry, dead, gone (410, endpoint disabled), sync_delivered, sync_failed.",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vaspd_webhook_attempt_duration_seconds",
			Help:    "Duration of webhook HTTP attempts, by status class (1xx, 2xx, 3xx, 4xx, 5xx; error: no valid answer).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"class"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vaspd_webhook_backlog",
			Help: "Deliveries pending (waiting, due or in flight), including those of disabled endpoints and those a wide event's fan-out has yet to write.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vaspd_webhook_oldest_pending_seconds",
			Help: "Age of the oldest pending delivery.",
		}),
		streaks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaspd_webhook_endpoint_failure_streak",
			Help: "Consecutive failed attempts per live endpoint, by endpoint id (0 after a success).",
		}, []string{"endpoint"}),
	}
	// Every outcome is served from the start, at 0: a series born at its
	// first Inc reads 1 at its first scrape, and increase() sees no rise
	// in it, so an alert on increase(…{outcome="dead"}) > 0 would miss
	// the first dead letter of every process.
	for _, o := range outcomeLabels {
		m.outcomes.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.latency, m.backlog, m.oldest, m.streaks} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// outcomeLabel is one outcome of vaspd_webhook_deliveries_total: what an
// attempt's result made of its delivery (nextState), a retry window ended
// before the next attempt (dead), or a synchronous send's result. It is a
// number, not the label's text, so that no string (a typo, a new value
// not listed here) can reach the counter: each is served at 0 from the
// start and documented (docs/webhook-delivery.md), and a series born at
// its first count would be neither (TestOutcomeLabelsAllServed).
type outcomeLabel uint8

const (
	labelDelivered outcomeLabel = iota
	labelRetry
	labelDead
	labelGone
	labelSyncDelivered
	labelSyncFailed
	numOutcomeLabels // keep last: the count of those above
)

// outcomeLabels are the outcomes' label values.
var outcomeLabels = [numOutcomeLabels]string{
	labelDelivered:     StatusDelivered,
	labelRetry:         "retry",
	labelDead:          StatusDead,
	labelGone:          "gone",
	labelSyncDelivered: "sync_delivered",
	labelSyncFailed:    "sync_failed",
}

func (m *metrics) outcome(o outcomeLabel) {
	if m != nil && o < numOutcomeLabels {
		m.outcomes.WithLabelValues(outcomeLabels[o]).Inc()
	}
}

func (m *metrics) attempt(r attemptResult) {
	if m == nil {
		return
	}
	// By the final status, as classify judges it. Of the 1xx only "101
	// Switching Protocols" is final (net/http reads the others and returns
	// the answer after them); it is a receiver's answer, retried like any
	// non-2xx, not a failure to get one. "error" is no valid answer: none
	// at all, or a broken one, such as a status code outside 100–599
	// (attempt makes that an error; net/http accepts 000–999).
	class := "error"
	switch {
	case r.status >= 100 && r.status < 200:
		class = "1xx"
	case r.status >= 200 && r.status < 300:
		class = "2xx"
	case r.status >= 300 && r.status < 400:
		class = "3xx"
	case r.status >= 400 && r.status < 500:
		class = "4xx"
	case r.status >= 500 && r.status < 600:
		class = "5xx"
	}
	m.latency.WithLabelValues(class).Observe(r.latency.Seconds())
}

func (m *metrics) streak(endpoint string, n int64) {
	if m != nil {
		m.mu.Lock()
		m.shown[endpoint] = true
		m.streaks.WithLabelValues(endpoint).Set(float64(n))
		m.mu.Unlock()
	}
}

// streaksAre sets every endpoint's streak series to streaks, and removes
// the series of endpoints not in it (deleted ones), without a moment in
// which a scrape would see none.
func (m *metrics) streaksAre(streaks map[string]int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.shown {
		if _, ok := streaks[id]; !ok {
			m.streaks.DeleteLabelValues(id)
		}
	}
	m.shown = make(map[string]bool, len(streaks))
	for id, n := range streaks {
		m.streaks.WithLabelValues(id).Set(float64(n))
		m.shown[id] = true
	}
}

func (m *metrics) queue(backlog int64, oldestSeconds float64) {
	if m != nil {
		m.backlog.Set(float64(backlog))
		m.oldest.Set(oldestSeconds)
	}
}
