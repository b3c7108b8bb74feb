package delivery

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
)

// Options configures a Service. The zero value is usable: defaults are in
// each field's comment.
type Options struct {
	// Clock tells the time; default vaspd.SystemClock.
	Clock vaspd.Clock
	// Log receives operational messages; never payloads or secrets.
	Log *slog.Logger
	// Signer adds the signature headers; default the webhook package's
	// (X-UMAaas-Signature and Standard Webhooks).
	Signer Signer
	// Retry is the retry schedule; zero value = 10 s doubling, 1 h cap, 3 days.
	// New refuses one that makes no sense (RetryPolicy.Validate).
	Retry RetryPolicy

	// EventTypes are the event types the caller enqueues. When set, an
	// endpoint's eventTypes filter may name only these: a misspelt type
	// would match no event, and the endpoint would receive nothing. Empty
	// = any name of the event type form.
	EventTypes []string

	// AllowNets opens the SSRF guard for these CIDRs, IPs or host names,
	// e.g. "127.0.0.1/32" for a receiver on the same machine.
	AllowNets []string

	// ConnectTimeout bounds TCP connect (and TLS handshake); default 5 s.
	ConnectTimeout time.Duration
	// AttemptTimeout bounds one whole attempt unless the endpoint sets its
	// own; default 10 s. Endpoint timeouts are capped at MaxAttemptTimeout.
	// New refuses one outside MinAttemptTimeout to MaxAttemptTimeout, as
	// an endpoint's is.
	AttemptTimeout time.Duration
	// MaxAttemptTimeout caps per-endpoint timeouts; default 60 s
	// (DefaultMaxAttemptTimeout).
	MaxAttemptTimeout time.Duration
	// MinAttemptTimeout is the least per-endpoint timeout; default 1 s
	// (DefaultMinAttemptTimeout). A timeout too short for any receiver to
	// answer a new connection's POST makes every attempt fail, retried for
	// the whole retry window. New refuses one above MaxAttemptTimeout.
	MinAttemptTimeout time.Duration
	// LeaseMargin is added to an attempt's timeout to form its lease: a
	// delivery claimed by a process that then dies is retried by any
	// process once the lease ends. Default 5 s.
	LeaseMargin time.Duration

	// PerEndpoint is how many attempts to one endpoint may be in flight in
	// this process; default 16. A failing endpoint gets one at a time.
	PerEndpoint int
	// MaxInFlight bounds attempts in flight in this process; default 1024.
	// Waiting on a slow endpoint costs a goroutine, not a worker thread.
	MaxInFlight int
	// ClaimBatch is the most deliveries one claim takes per endpoint; default 256.
	ClaimBatch int
	// PollInterval is how often the worker looks for due deliveries when
	// nothing woke it (other processes' enqueues, retries); default 250 ms.
	PollInterval time.Duration

	// Retention is how long finished deliveries, their attempts and events
	// are kept; default 30 days. Pending deliveries are never pruned.
	Retention time.Duration
	// SecretGrace is how long a rotated-out secret keeps signing; default 24 h.
	SecretGrace time.Duration

	// MaxEndpoints is the most live (not deleted) endpoints, the primary
	// and disabled ones included; default DefaultMaxEndpoints. Every
	// endpoint gets its own copy of each event it matches, so endpoints
	// without limit would multiply the work of every webhook without
	// limit. Creating one more is a 409 CONFLICT.
	MaxEndpoints int

	// Registerer receives the metrics; nil = no metrics.
	Registerer prometheus.Registerer

	// Tracer makes a span of every attempt, whose traceparent the
	// attempt's request carries (tracing.go); nil = no spans.
	Tracer trace.Tracer
}

// The defaults of Options.MinAttemptTimeout and MaxAttemptTimeout: the
// bounds of an endpoint's timeoutMs, and of the default timeout of an
// attempt (the webhook-timeout setting).
const (
	DefaultMinAttemptTimeout = time.Second
	DefaultMaxAttemptTimeout = time.Minute
)

// DefaultMaxEndpoints is Options.MaxEndpoints's default: far more than a
// platform's integrations need (the webhook benchmark uses 101), few
// enough that one event's fan-out stays one short transaction.
const DefaultMaxEndpoints = 1000

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = vaspd.SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Retry = o.Retry.withDefaults()
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ConnectTimeout, 5*time.Second)
	def(&o.AttemptTimeout, 10*time.Second)
	def(&o.MaxAttemptTimeout, DefaultMaxAttemptTimeout)
	def(&o.MinAttemptTimeout, DefaultMinAttemptTimeout)
	def(&o.LeaseMargin, 5*time.Second)
	def(&o.PollInterval, 250*time.Millisecond)
	def(&o.Retention, 30*24*time.Hour)
	def(&o.SecretGrace, 24*time.Hour)
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 16
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1024
	}
	if o.ClaimBatch <= 0 {
		o.ClaimBatch = 256
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = DefaultMaxEndpoints
	}
	return o
}
