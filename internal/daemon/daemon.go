// Package daemon assembles a running vaspd from a Config: it opens the
// database (retrying while it is down), loads or creates keys, builds the
// HTTP API and the background workers, and shuts them all down in order.
// cmd/vaspd only parses the command line and calls Run; end-to-end tests
// start daemons in-process the same way.
package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/internal/buildinfo"
	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/tracing"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
	"github.com/vaspd/vaspd/users"
)

// Daemon is one running vaspd process.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	out   io.Writer // where first-start credentials and the banner go (stdout), never the log
	clock vaspd.Clock

	ln       net.Listener
	srv      *http.Server
	handler  atomic.Pointer[http.Handler]
	registry *prometheus.Registry
	build    buildinfo.Info   // the binary's version and revision, logged and a metric
	hup      <-chan os.Signal // SIGHUP, caught for as long as Run runs

	// tracing is the tracer provider, nil with tracing off (tracing.go).
	tracing *tracing.Provider

	db      atomic.Pointer[store.DB]
	workers sync.WaitGroup
	closers []func() error // run in reverse order at shutdown, before the database closes
}

// New validates nothing further (call cfg.Resolve first) and binds the
// listener, so that the address is known before Run.
func New(cfg Config, log *slog.Logger, out io.Writer) (*Daemon, error) {
	if out == nil {
		out = io.Discard
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("setting listen: %w", err)
	}
	return NewWithListener(cfg, ln, log, out), nil
}

// NewWithListener is New on a listener the caller bound, so that tests can
// know every process's address before configuring any of them.
func NewWithListener(cfg Config, ln net.Listener, log *slog.Logger, out io.Writer) *Daemon {
	if out == nil {
		out = io.Discard
	}
	cfg.listeningOn(ln.Addr())
	d := &Daemon{cfg: cfg, log: log, out: out, clock: vaspd.SystemClock{}, ln: ln, registry: prometheus.NewRegistry()}
	d.build = buildinfo.Read(cfg.Version)
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(d.build))
	return d
}

// Addr is the address the HTTP server listens on.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// DB returns the database once it is open (nil before).
func (d *Daemon) DB() *store.DB { return d.db.Load() }

// Run serves until ctx ends, then shuts down gracefully: the listener stops
// accepting, in-flight requests get ShutdownTimeout to finish, workers stop,
// and the database closes.
func (d *Daemon) Run(ctx context.Context) error {
	// SIGHUP asks for a reload (of rates-file, watchRates) and never ends
	// vaspd, whatever the configuration and from the first moment: a
	// `systemctl reload`, or a terminal's hang-up, must not stop a VASP
	// with payments in flight (Go's default for SIGHUP is to exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d.hup = hup

	// The data directory holds the default SQLite database and nothing
	// else: with database-url set it is neither created nor checked.
	if d.cfg.DatabaseURL == "" {
		if err := os.MkdirAll(d.cfg.DataDir, 0o700); err != nil {
			d.ln.Close()
			return fmt.Errorf("setting data-dir: cannot create %s: %w", d.cfg.DataDir, err)
		}
		if err := checkWritable(d.cfg.DataDir); err != nil {
			d.ln.Close()
			return fmt.Errorf("setting data-dir: %s is not writable: %w", d.cfg.DataDir, err)
		}
	}
	warnReadableSecrets(d.cfg, d.log)
	warnTrustedProxies(d.cfg, d.log)
	// One server per SQLite database (lock.go); held until Run returns,
	// after the database has closed. Taken before the server answers
	// anything, so a refused second process never looks alive.
	if kind, where := d.cfg.databaseKind(); kind == "sqlite" {
		release, err := lockSQLite(d.cfg.databaseSetting(), where)
		if err != nil {
			d.ln.Close()
			return err
		}
		defer release()
	}

	tp, err := d.openTracing(ctx)
	if err != nil {
		d.ln.Close()
		return err
	}
	d.tracing = tp

	// Until the database is up the server answers /healthz, /readyz (503)
	// and 503 for everything else.
	starting := api.New(api.Options{Logger: d.log, Registry: prometheus.NewRegistry(), Ready: func(context.Context) error {
		return errors.New("starting: waiting for the database")
	}})
	d.setHandler(startingHandler(starting.Handler()))
	d.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*d.handler.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      api.WriteTimeout, // the routes that wait longer by design extend it
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.srv.Serve(d.ln) }()
	fmt.Fprintf(d.out, "vaspd listening on http://%s\n  UMA domain: %s (users are $name@%s)\n  public base URL: %s\n",
		d.ln.Addr(), d.cfg.Domain, d.cfg.Domain, config.RedactURL(d.cfg.BaseURL))

	err = d.start(ctx)
	if err == nil {
		select {
		case <-ctx.Done():
		case err = <-serveErr:
		}
	}
	return errors.Join(err, d.shutdown())
}

func (d *Daemon) start(ctx context.Context) error {
	db, err := d.openDB(ctx)
	if err != nil {
		return err
	}
	d.db.Store(db)
	d.warnNewerSchema(ctx, db)

	keys, err := loadKeys(ctx, db, d.cfg)
	if err != nil {
		return err
	}
	previous, ignored, err := previousEncryptionKeys(ctx, db, d.cfg.previousEncryptionKeys, keys.Encryption.PubKey())
	if err != nil {
		return err
	}
	warnIgnoredKeys(d.log, ignored)
	for _, k := range previous {
		d.log.Info("previous UMA encryption key: decrypts travel-rule data only, never served",
			"public_key", hex.EncodeToString(k.Key.PubKey().SerializeCompressed()), "source", k.Source())
	}

	tokens, err := auth.NewTokens(ctx, db, d.clock)
	if err != nil {
		return err
	}
	// The admin token is in the audit trail, as the CLI's own changes are:
	// the credential every other one descends from.
	trail := audit.New(db, d.clock)
	if tok, first, err := tokens.Bootstrap(ctx, func(tx *store.Tx, id string) error {
		e := audit.CLIEvent("vaspd serve", map[string]string{"tokenId": id})
		return trail.RecordTx(ctx, tx, &e, http.StatusOK)
	}); err != nil {
		return fmt.Errorf("create the first admin credential: %w", err)
	} else if first {
		fmt.Fprintf(d.out, "\nFirst start: created an admin API credential (all permissions). It is shown only once:\n"+
			"  clientId:     %s\n  clientSecret: %s\n  e.g. curl -u '%s:%s' %s/tokens\n\n",
			tok.ClientID, tok.ClientSecret, tok.ClientID, tok.ClientSecret, "http://"+d.ln.Addr().String())
	}

	node, embeddedNode, err := openLightning(ctx, db, d.cfg.Lightning, d.log)
	if err != nil {
		return err
	}
	if c, ok := node.(interface{ Close() error }); ok {
		d.closers = append(d.closers, c.Close)
	}
	if n, ok := node.(*lnd.Node); ok {
		d.goWorker(ctx, "lnd-resolve", func(ctx context.Context) error { return resolveLND(ctx, n, d.log) })
	}

	webhooks, err := openDelivery(db, d.cfg.Webhooks, d.clock, d.log, d.registry, d.tracing.Tracer())
	if err != nil {
		return err
	}
	d.goWorker(ctx, "webhook-delivery", webhooks.Run)

	payments, userSvc, led, provider, err := openPayments(paymentDeps{db: db, cfg: d.cfg, keys: keys, previous: previous, node: node, webhooks: webhooks, clock: d.clock, log: d.log, registry: d.registry, tracer: d.tracing.Tracer()})
	if err != nil {
		return err
	}
	d.goWorker(ctx, "payments", payments.Run)
	d.goWorker(ctx, "rates-reload", func(ctx context.Context) error { return watchRates(ctx, provider, d.cfg.Payments, d.hup, d.log) })

	imports := users.NewImporter(userSvc, users.ImporterOptions{
		Log:       d.log.With("component", "user-imports"),
		Announcer: importAnnouncer{webhooks},
		// 0 is the default (users.NewImporter).
		ErrorRetention: d.cfg.Payments.BulkUploadErrorRetention,
	})
	d.goWorker(ctx, "user-imports", imports.Run)

	srv := api.New(api.Options{
		Logger:   d.log,
		Registry: d.registry,
		Clock:    d.clock,
		Ready:    d.ready,
		Tokens:   tokens,
		Audit:    trail,

		PublicMetrics:         d.cfg.MetricsPublic,
		TrustedOrigins:        d.cfg.trustedOrigins,
		AuthFailuresPerMinute: offIfZero(d.cfg.AuthFailures),
		UMARequestsPerSecond:  offIfZero(d.cfg.UMARateLimit),
		TrustedProxies:        d.cfg.trustedProxies,
		Tracer:                d.tracing.Tracer(),
	})
	srv.MountUsers(userSvc, led, provider, d.cfg.Domain)
	srv.MountLedger(db, led, provider)
	srv.MountReconciliation(payments)
	srv.MountUserImports(imports, d.cfg.Domain)
	invites, err := invitations.New(db, userSvc, invitations.Options{
		Clock: d.clock, Rates: provider, Announcer: claimAnnouncer{webhooks},
		Domain: d.cfg.Domain, BaseURL: d.cfg.BaseURL,
	})
	if err != nil {
		return err
	}
	srv.MountInvitations(invites)
	srv.MountWebhooks(webhooks)
	srv.MountUMA(payments)
	srv.MountPayments(payments)
	if embeddedNode != nil && d.cfg.Lightning.DevnetSecret != "" {
		// Off without a secret: its paths are then unknown like any other.
		srv.HandlePublic(embedded.DevnetPrefix, embeddedNode.DevnetHandler())
	}
	d.setHandler(srv.Handler())
	d.log.Info("vaspd ready", "addr", d.ln.Addr().String(), "domain", d.cfg.Domain, "database", db.Driver().Name(),
		"version", d.build.Version, "revision", d.build.ShortRevision())
	return nil
}

// offIfZero is a limit setting (api-auth-failure-limit, uma-rate-limit),
// where 0 is no limit, as api.Options takes it, where 0 is the default and
// a negative value no limit.
func offIfZero(limit int) int {
	if limit == 0 {
		return -1
	}
	return limit
}

// warnNewerSchema logs, once, that db records migrations this binary does
// not have: a newer vaspd migrated it. Serving it is allowed (a rolling
// upgrade runs old and new processes on one database for a while) but
// should not go unnoticed: this binary does not know what those
// migrations changed.
func (d *Daemon) warnNewerSchema(ctx context.Context, db *store.DB) {
	unknown, err := db.UnknownMigrations(ctx)
	if err != nil {
		d.log.Warn("could not compare the database's migrations with this vaspd's", "err", err)
		return
	}
	if len(unknown) == 0 {
		return
	}
	names := make([]string, len(unknown))
	for i, m := range unknown {
		names[i] = fmt.Sprintf("%04d_%s", m.Version, m.Name)
	}
	d.log.Warn("the database was migrated by a newer vaspd: it records migrations this vaspd does not have; "+
		"serving it as during a rolling upgrade, but this vaspd should be replaced by the newer one",
		"unknown_migrations", names)
}

func (d *Daemon) setHandler(h http.Handler) { d.handler.Store(&h) }

func (d *Daemon) ready(ctx context.Context) error {
	db := d.db.Load()
	if db == nil {
		return errors.New("database not open")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	done, err := db.MigrationsDone(ctx)
	if err != nil || !done {
		return errors.New("migrations not applied")
	}
	return nil
}

// openDB opens the configured database, retrying with capped exponential
// backoff while it is unreachable (a database starting after vaspd is normal
// under an orchestrator). Configuration errors are not retried.
func (d *Daemon) openDB(ctx context.Context) (*store.DB, error) {
	kind, where := d.cfg.databaseKind()
	deadline := time.Time{}
	if d.cfg.DBRetryTimeout > 0 {
		deadline = time.Now().Add(d.cfg.DBRetryTimeout)
	}
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var (
			db  *store.DB
			err error
		)
		if kind == "postgres" {
			// Only reaching the server is bounded: the migrations wait for
			// another process's (the lock) and may take long themselves,
			// and cutting them short would start them over forever.
			octx, cancel := context.WithTimeout(ctx, connectTimeout)
			db, err = postgres.Connect(octx, where, d.log)
			cancel()
			if err == nil {
				if err = db.Migrate(ctx); err != nil {
					db.Close()
				}
			}
		} else {
			db, err = sqlite.Open(ctx, where, d.log) // a local file: nothing to wait for but migrations
		}
		if err == nil {
			return db, nil
		}
		if kind == "sqlite" || ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			return nil, fmt.Errorf("setting %s: %w", d.cfg.databaseSetting(), err)
		}
		d.log.Warn("database unavailable; retrying", "database", kind, "attempt", attempt, "retry_in", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// connectTimeout bounds one attempt to reach the database server (not the
// migrations that follow).
var connectTimeout = 30 * time.Second

func (d *Daemon) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := d.srv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	done := make(chan struct{})
	go func() { d.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, errors.New("workers did not stop in time"))
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if db := d.db.Load(); db != nil {
		if err := db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.stopTracing()
	d.log.Info("vaspd stopped")
	return errors.Join(errs...)
}

// goWorker runs fn until the daemon's context ends; shutdown waits for it.
func (d *Daemon) goWorker(ctx context.Context, name string, fn func(ctx context.Context) error) {
	d.workers.Add(1)
	go func() {
		defer d.workers.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("worker stopped", "worker", name, "err", err)
		}
	}()
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// OpenDB opens the configured database once (no retries) for CLI commands
// that work against the local installation. It does not migrate: a CLI
// command may run beside a serving vaspd, of another version or still
// migrating, and only `vaspd serve` changes the schema (under its lock).
// So it refuses a database that is not exactly at this binary's
// migrations, saying which binary to run.
func OpenDB(ctx context.Context, cfg Config, log *slog.Logger) (*store.DB, error) {
	kind, where := cfg.databaseKind()
	var db *store.DB
	var err error
	if kind == "postgres" {
		db, err = postgres.Connect(ctx, where, log)
	} else {
		db, err = sqlite.Connect(ctx, where, log)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: start `vaspd serve` (which creates and migrates it) first", where)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		var se *store.SchemaError
		switch {
		case errors.As(err, &se) && se.Unknown != 0:
			return nil, fmt.Errorf("%w: this vaspd binary is older than the database; use the newer binary", err)
		case errors.As(err, &se):
			return nil, fmt.Errorf("%w: start `vaspd serve` (which migrates) first", err)
		}
		return nil, err
	}
	return db, nil
}

// startingHandler answers /healthz and /readyz from h and 503 for the rest
// until the database is up and the real routes are installed.
func startingHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "5")
		api.WriteError(w, r, nil, vaspd.Errorf(http.StatusServiceUnavailable, vaspd.CodeUnavailable,
			"vaspd is starting: waiting for the database"))
	})
}
