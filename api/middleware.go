package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientCtxKey
	noteKey
)

// requestNote is what the handlers inside the middleware tell it, and the
// audit trail, about a request: the token that authenticated it
// (authenticate) and the error code it was answered with (WriteError).
// One goroutine serves a request, so it needs no lock.
type requestNote struct {
	tokenID string // the clientId, never the secret
	code    string
	// idempotencyKey is the key a request's body gave (requestIdempotencyKey),
	// for its audit event, which learns it only with the outcome.
	idempotencyKey string
	// created is the id of what the request created (noteCreated), for
	// its audit event, which learns it only with the outcome.
	created string
	// subject is the id of the existing resource a request on a route
	// naming none changed (noteSubject), for its audit event's resource.
	subject string
}

// noteCreated tells the audit trail the id of the resource a request
// created (or, replayed, answered with): its event, written before the
// handler ran, records it with the outcome as the outcome's createdId,
// and as its resourceId if its route names no resource of its own. Every
// audited route that creates something calls it before it answers (a
// deposit or withdrawal, whose resource is its user, the path's, names
// the movement it made this way only).
func noteCreated(r *http.Request, id string) {
	if n := noteOf(r.Context()); n != nil {
		n.created = id
	}
}

// noteSubject tells the audit trail the id of an existing resource a
// request changed or deleted on a route whose path names none (PATCH
// /config re-pointing or deleting the primary webhook endpoint): its event
// records it with the outcome as its resourceId, not as created.
func noteSubject(r *http.Request, id string) {
	if n := noteOf(r.Context()); n != nil {
		n.subject = id
	}
}

func noteOf(ctx context.Context) *requestNote {
	n, _ := ctx.Value(noteKey).(*requestNote)
	return n
}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

type httpMetrics struct {
	latency      *prometheus.HistogramVec
	inflight     prometheus.Gauge
	umaThrottled prometheus.Counter
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vaspd_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vaspd_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		umaThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vaspd_uma_throttled_total",
			Help: "UMA requests answered 429 because their client was past the UMA request limit (uma-rate-limit).",
		}),
	}
	reg.MustRegister(m.latency, m.inflight, m.umaThrottled)
	return m
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	// panicAnswer, when set, answers a request whose handler panicked
	// instead of the platform API's error JSON (see onPanic).
	panicAnswer func(http.ResponseWriter, *http.Request)
}

// onPanic makes f answer the request served through w if its handler
// panics, for routes whose errors are not the platform API's (UMA's).
func onPanic(w http.ResponseWriter, f func(http.ResponseWriter, *http.Request)) {
	if sw, ok := w.(*statusWriter); ok {
		sw.panicAnswer = f
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// clientOf is r's client as the middleware resolved it. Every request
// Handler serves passes the middleware; one that did not is resolved here
// rather than taken for an empty client that all such requests would share.
func (s *Server) clientOf(r *http.Request) client {
	if c, ok := r.Context().Value(clientCtxKey).(client); ok {
		return c
	}
	return s.proxies.client(r)
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		// The client address is logged with every request, so that an
		// operator can trace abuse or an incident to its source.
		cl := s.proxies.client(r)
		note := &requestNote{}
		ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey, id), clientCtxKey, cl)
		ctx = context.WithValue(ctx, noteKey, note)
		ss := s.newServerSpan(r, start, id)
		if ss != nil {
			ctx = context.WithValue(ctx, serverSpanKey, ss)
		}
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			abort := false
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					ss.end(r, cmp.Or(sw.status, http.StatusOK))
					panic(p)
				}
				s.log.ErrorContext(ctx, "panic in handler", "request_id", id, "panic", fmt.Sprint(p),
					"stack", string(debug.Stack()))
				switch {
				case sw.wrote:
					// Too late for a 500: cut the connection (below), so
					// the client cannot take the part written for a whole.
					abort = true
				case sw.panicAnswer != nil:
					sw.panicAnswer(sw, r)
				default:
					WriteError(sw, r, nil, vaspd.Internal(fmt.Errorf("panic: %v", p)))
				}
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			d := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			ss.end(r, status)
			s.metrics.latency.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).Observe(d.Seconds())
			level := slog.LevelInfo
			if route == "GET /healthz" || route == "GET /readyz" || route == "GET /metrics" {
				level = slog.LevelDebug
			}
			attrs := []any{"request_id", id, "method", vaspd.Truncate(r.Method, 20), "route", route, "path", logPath(r.URL.Path),
				"client", cl.String(), "status", status, "duration_ms", float64(d.Microseconds()) / 1000}
			if note.tokenID != "" {
				attrs = append(attrs, "token_id", note.tokenID) // the clientId; the secret is never logged
			}
			s.log.Log(ctx, level, "http request", attrs...)
			if abort {
				panic(http.ErrAbortHandler) // net/http closes the connection, logging nothing more
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel is the method as a metric label: net/http accepts any token
// as a method, and each label value is a time series kept for the life of
// the process, so methods no route uses are all "OTHER".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// saneRequestID accepts a client-supplied id only if it is short and plain,
// so it cannot inject into logs.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
