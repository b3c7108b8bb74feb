package tracing

import (
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"

	"github.com/vaspd/vaspd"
)

// warnEvery is the least time between two warnings of the SDK's: a
// collector that is down fails every export (one every few seconds by
// default), and the log must not fill with them.
const warnEvery = time.Minute

// warnings logs the SDK's errors and warnings at most once per warnEvery,
// the next one saying how many were left out meanwhile.
type warnings struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (w *warnings) warn(msg string, args ...any) {
	w.mu.Lock()
	now := w.now()
	if !w.last.IsZero() && now.Sub(w.last) < w.every {
		w.suppressed++
		w.mu.Unlock()
		return
	}
	n := w.suppressed
	w.last, w.suppressed = now, 0
	w.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	w.log.Warn(msg, args...)
}

// Handle is the SDK's error handler (otel.ErrorHandler), to which the
// batch processor hands the exporter's errors: a failed export (spans
// dropped), a partial success, and the like. The exporter's errors name
// the endpoint URL, which CheckEndpoint keeps free of credentials, and the
// HTTP status, never a header or the collector's answer, but for a
// partial success's message: cut short.
func (w *warnings) Handle(err error) {
	w.warn("tracing: OpenTelemetry error (spans may be dropped; request handling is not affected)",
		"err", vaspd.Truncate(err.Error(), 300))
}

// install makes w the SDK's error handler and diagnostic logger. Both are
// the process's (OpenTelemetry keeps them in globals): with several daemons
// in one process (tests, vaspd demo) the last one started logs for all.
func (w *warnings) install() {
	otel.SetErrorHandler(w)
	otel.SetLogger(logr.New(&valuelessSink{w: w}))
}

// valuelessSink is the SDK's diagnostic logger: its warnings and errors
// (verbosity up to 1; info and debug are dropped) are logged through
// warnings with the names of their key/value pairs but never the values.
// The SDK's diagnostics may quote what they complain of (the upstream
// exporter logged a malformed OTEL_EXPORTER_OTLP_HEADERS entry with its
// value, an API key as likely as not); CheckEnv refuses those at start,
// and this keeps whatever else it may log alike out of vaspd's log.
type valuelessSink struct {
	w    *warnings
	name string
}

func (s *valuelessSink) Init(logr.RuntimeInfo)  {}
func (s *valuelessSink) Enabled(level int) bool { return level <= 1 }

func (s *valuelessSink) Info(_ int, msg string, kv ...any) {
	s.w.warn("tracing: OpenTelemetry SDK: "+msg, "keys", keysOf(kv))
}

func (s *valuelessSink) Error(err error, msg string, kv ...any) {
	args := []any{"keys", keysOf(kv)}
	if err != nil {
		args = append(args, "err", vaspd.Truncate(err.Error(), 300))
	}
	s.w.warn("tracing: OpenTelemetry SDK: "+msg, args...)
}

func (s *valuelessSink) WithValues(...any) logr.LogSink { return s }

func (s *valuelessSink) WithName(name string) logr.LogSink {
	return &valuelessSink{w: s.w, name: name}
}

// keysOf is the keys of a logr key/value list.
func keysOf(kv []any) []string {
	var keys []string
	for i := 0; i < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			keys = append(keys, k)
		}
	}
	return keys
}
