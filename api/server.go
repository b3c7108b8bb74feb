package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/vasp"
)

// Options configures a Server. DB-backed services are optional so that the
// server can answer /healthz and /readyz while the database is still
// unreachable at start; routes needing them are added once they exist.
type Options struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // metrics go here (not the global registry)
	Clock    vaspd.Clock

	// Ready reports whether the process can serve traffic (database
	// reachable, migrations applied). nil means always ready. GET
	// /readyz calls it at most once a second (readyFor).
	Ready func(ctx context.Context) error

	Tokens *auth.Tokens

	// Audit is the audit trail the routes registered Audited write to
	// (audit.go); required with Tokens, and New serves GET /audit-events
	// from it.
	Audit *audit.Log

	// PublicMetrics serves /metrics to anyone. By default it needs a
	// token with VIEW, as it tells the business's volumes.
	PublicMetrics bool

	// TrustedOrigins are origins (https://dash.example.com) whose pages
	// a browser may make state-changing platform requests from, a
	// platform's own dashboard on another origin; browsers' other
	// cross-origin requests are refused (crossorigin.go). Each must pass
	// TrustedOrigin; New panics otherwise.
	TrustedOrigins []string

	// AuthFailuresPerMinute limits failed Basic authentications per
	// client address (authlimit.go): 0 is DefaultAuthFailuresPerMinute,
	// a negative value no limit.
	AuthFailuresPerMinute int

	// UMARequestsPerSecond limits requests to the UMA endpoints per
	// client address (umalimit.go), in a burst of twice as many: 0 is
	// DefaultUMARequestsPerSecond, a negative value no limit.
	UMARequestsPerSecond int

	// TrustedProxies are the reverse proxies (addresses and networks,
	// as ParseTrustedProxy gives them) whose X-Forwarded-For names the
	// client (clientaddr.go); none, the default, believes no
	// X-Forwarded-For. New panics on a prefix that is not valid.
	TrustedProxies []netip.Prefix

	// Tracer makes a server span of every request (tracing.go); nil, the
	// default, none.
	Tracer trace.Tracer
}

// Server routes and serves vaspd's HTTP API. Build it with New, add feature
// routes with Handle, and serve Handler().
type Server struct {
	opts      Options
	log       *slog.Logger
	mux       *http.ServeMux
	metrics   *httpMetrics
	csrf      *http.CrossOriginProtection
	authLimit *limiter
	umaLimit  *limiter
	proxies   trustedProxies
	routes    []Route
	readiness readiness
	// payments is MountPayments' service, if mounted (GET /config).
	payments *vasp.Service
}

// WriteTimeout is the http.Server's WriteTimeout vaspd serves with
// (internal/daemon): how long an answer may take, from the end of the
// request's headers, before the connection is closed, which bounds a client
// that never reads its answer. A handler that waits longer by design calls
// answerWithin.
const WriteTimeout = 60 * time.Second

// answerMargin is the time answerWithin adds to a handler's wait for the
// work around it and for writing the answer.
const answerMargin = 30 * time.Second

// answerWithin lets the handler answering w wait up to d (an approval, a
// payment, a test webhook's receiver), which configuration may set at or
// above WriteTimeout, and still have its answer written: otherwise the
// caller would get a closed connection and no answer after WriteTimeout.
func answerWithin(w http.ResponseWriter, d time.Duration) {
	d = max(d+answerMargin, WriteTimeout)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}

// HandlerFunc is the signature of every API handler: it returns errors
// rather than writing them.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// New builds a server with the operations routes and, when Tokens is set,
// the token routes and the 501 answers of the UMAaaS operations vaspd does
// not serve (unimplemented.go).
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Clock == nil {
		opts.Clock = vaspd.SystemClock{}
	}
	if opts.AuthFailuresPerMinute == 0 {
		opts.AuthFailuresPerMinute = DefaultAuthFailuresPerMinute
	}
	if opts.UMARequestsPerSecond == 0 {
		opts.UMARequestsPerSecond = DefaultUMARequestsPerSecond
	}
	s := &Server{opts: opts, log: opts.Logger, mux: http.NewServeMux(), metrics: newHTTPMetrics(opts.Registry),
		csrf:      newCrossOrigin(opts.TrustedOrigins),
		authLimit: newAuthLimiter(opts.Clock, opts.Logger, opts.AuthFailuresPerMinute, maxAuthClients),
		umaLimit:  newUMALimiter(opts.Clock, opts.Logger, opts.UMARequestsPerSecond, maxUMAClients),
		proxies:   newTrustedProxies(opts.TrustedProxies)}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	metrics := promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry, MaxRequestsInFlight: maxScrapes})
	if opts.PublicMetrics {
		s.mux.Handle("GET /metrics", metrics)
	} else {
		s.Handle("GET /metrics", vaspd.PermView, func(w http.ResponseWriter, r *http.Request) error {
			metrics.ServeHTTP(w, r)
			return nil
		})
	}
	s.mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		// A platform error like any other (README: every platform answer,
		// errors included, is no-store); its message echoes the path.
		w.Header().Set("Cache-Control", "no-store")
		if allow := s.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return vaspd.Errorf(http.StatusMethodNotAllowed, vaspd.CodeMethodNotAllowed, "%s %s is not allowed; use %s",
				vaspd.Truncate(r.Method, 20), vaspd.Truncate(r.URL.Path, 200), strings.Join(allow, ", "))
		}
		return vaspd.Errorf(http.StatusNotFound, vaspd.CodeNotFound, "no route for %s %s", r.Method, vaspd.Truncate(r.URL.Path, 200))
	}))
	if opts.Tokens != nil {
		if opts.Audit == nil {
			panic("api: Options.Audit is required with Tokens: audited routes would refuse every request")
		}
		s.Handle("GET /audit-events", vaspd.PermManage, s.listAuditEvents)
		s.tokenRoutes()
		s.unimplementedRoutes()
	}
	return s
}

// Handler returns the root handler with request ids, logging, metrics and
// panic recovery around every route.
func (s *Server) Handler() http.Handler {
	return s.middleware(s.mux)
}

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Handle registers a platform-API route that needs permission perm.
// pattern is a net/http pattern such as "GET /users/{id}". A route whose
// method could change something must be declared Audited or
// NotAudited(reason) in opts; Handle panics otherwise (audit.go).
// Its answers, errors included, are marked Cache-Control: no-store: they
// carry users' data and, for POST /tokens, a secret shown once. A browser's
// cross-origin request that could change something is refused before
// authentication (crossOrigin).
func (s *Server) Handle(pattern string, perm vaspd.Permission, h HandlerFunc, opts ...RouteOption) {
	h = queryOnce(h)
	if s.declare(pattern, perm, opts).Audited {
		h = s.auditing(h)
	}
	inner := s.wrap(s.crossOrigin(s.authenticate(perm, h)))
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		inner.ServeHTTP(w, r)
	}))
}

// queryOnce refuses a request naming a query parameter more than once
// (400): no list filter or option of the platform API takes several
// values (the UMAaaS document declares none), and which one was meant
// cannot be told; reading the first would answer another question than
// the platform asked. So is one with several Idempotency-Key headers: a
// proxy in front that reads another than the first would take the retry
// for another request than we do. It runs after authentication, as the
// handler's own input checks do.
func queryOnce(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if n := len(r.Header.Values("Idempotency-Key")); n > 1 {
			return vaspd.InvalidInput("send one Idempotency-Key header: this request has %d", n)
		}
		if r.URL.RawQuery != "" {
			for name, vs := range r.URL.Query() {
				if len(vs) > 1 {
					return vaspd.InvalidInput("query parameter %q is given %d times; it goes once", vaspd.Truncate(name, 50), len(vs))
				}
			}
		}
		return h(w, r)
	}
}

// HandlePublic registers an unauthenticated route (UMA endpoints, devnet).
// h is responsible for its own error format (UMA endpoints answer UMA error JSON).
// Its request's span, when tracing, is a new trace (tracing.go): a public
// caller's traceparent is never continued.
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	if s.opts.Tracer != nil {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(w, beginSpan(r, false)) })
	}
	s.mux.Handle(pattern, h)
}

// wrap turns a HandlerFunc into an http.Handler that renders its error.
func (s *Server) wrap(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, s.log, err)
		}
	})
}

// allowedMethods lists the methods that have a route for r's path other
// than the catch-alls ("/", "/api/uma/": patterns naming no method), so
// that a wrong method is told apart from a wrong path (405, not 404).
func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch, http.MethodPost, http.MethodPut} {
		if m == r.Method {
			continue
		}
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" && !strings.HasPrefix(pattern, "/") {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// maxScrapes bounds the /metrics requests served at once; more are
// answered 503 at once. Prometheus scrapes a target one request at a time
// (two with a replicated pair); with metrics-public the route is open to
// anyone, and each scrape gathers and encodes every series.
const maxScrapes = 4

// readyFor is how long a readiness check's result answers /readyz. The
// route is public and unthrottled (load balancers) and the check asks the
// database: however many ask, it runs at most once in readyFor.
const readyFor = time.Second

// readyCheckLimit bounds one readiness check, which the requests waiting
// for it share.
const readyCheckLimit = 5 * time.Second

// readiness is the last readiness check's result.
type readiness struct {
	mu      sync.Mutex // held during a check: the requests meanwhile wait for its result
	checked bool
	at      time.Time
	err     error
}

// ready is Options.Ready's result, checked at most once in readyFor. The
// check is not cut short by its request's client hanging up: its result
// answers the others too.
func (s *Server) ready(ctx context.Context) error {
	s.readiness.mu.Lock()
	defer s.readiness.mu.Unlock()
	if now := s.opts.Clock.Now(); s.readiness.checked && !now.Before(s.readiness.at) && now.Sub(s.readiness.at) < readyFor {
		return s.readiness.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyCheckLimit)
	defer cancel()
	err := s.opts.Ready(ctx)
	s.readiness.checked, s.readiness.at, s.readiness.err = true, s.opts.Clock.Now(), err
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		if err := s.ready(r.Context()); err != nil {
			WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
