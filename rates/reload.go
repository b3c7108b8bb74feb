package rates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
)

// A rates file that follows the market: NewFileProvider reads it, Reload
// (called by Watch every few seconds, and on demand) takes a changed file
// in whole, and a maximum age refuses to price new money with rates
// nobody updated for too long (fail closed).
//
// A change is noticed by the file's identity (a rename over it makes
// another), modification time and size, and confirmed by its content: a rewrite with the same content is no reload
// (it does count as an update for the maximum age: the writer confirmed
// its prices). A file that cannot be read or parsed, or is gone, keeps the
// last good rates; it is logged once (ERROR) and counted once per content,
// not at every poll. Writers should write a temporary file beside it and
// rename it over (atomic): a half-written file fails to parse and is not
// taken, but is logged as a failure.

// ErrStale is the error of FreshRate when the rates in use are older than
// the maximum age: no new money is priced with them.
var ErrStale = errors.New("exchange rates are stale")

// DefaultReloadInterval is how often Watch looks at the file by default.
const DefaultReloadInterval = 10 * time.Second

// FileOptions configures NewFileProvider.
type FileOptions struct {
	Path string
	// Setting names the file in error messages ("setting rates-file: …").
	Setting string
	// MaxAge: the rates are stale once the file was last modified longer
	// ago than this; 0 never.
	MaxAge time.Duration
	Clock  vaspd.Clock
	Log    *slog.Logger
	// Read reads the file; nil is os.ReadFile. Its errors are reported
	// as they are, so they should name the setting.
	Read func(path string) ([]byte, error)
}

// fileSource is what a provider reloading its file keeps between polls.
type fileSource struct {
	opt FileOptions
	mu  sync.Mutex // one reload at a time
	// The file last examined: the same file (device and inode, as a
	// rename over it replaces them) with the same modification time and
	// size is no change. nil: none, read it.
	seen os.FileInfo
	// failing is the failure last reported ("" none: logged and counted
	// once while it lasts), err the error it reported.
	failing string
	err     error
}

// Outcomes of vaspd_rates_reloads_total.
const (
	reloadReloaded = "reloaded"
	reloadFailed   = "failed"
)

// NewFileProvider reads and validates the rates file and returns a
// provider of its rates, which Reload and Watch keep up to date.
func NewFileProvider(opt FileOptions) (*ConfigProvider, error) {
	if opt.Clock == nil {
		opt.Clock = vaspd.SystemClock{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Read == nil {
		opt.Read = func(path string) ([]byte, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("setting %s: cannot read %s: %w", opt.Setting, path, err)
			}
			return b, nil
		}
	}
	f := &fileSource{opt: opt}
	fi, err := f.stat()
	if err != nil {
		return nil, err
	}
	b, err := opt.Read(opt.Path)
	if err != nil {
		return nil, err
	}
	t, err := f.parse(b, fi)
	if err != nil {
		return nil, err
	}
	f.seen = fi
	p := &ConfigProvider{clock: opt.Clock, file: f, metrics: newMetrics()}
	p.cur.Store(t)
	return p, nil
}

func (f *fileSource) stat() (os.FileInfo, error) {
	fi, err := os.Stat(f.opt.Path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("setting %s: cannot read %s: %w", f.opt.Setting, f.opt.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("setting %s: %s is not a regular file", f.opt.Setting, f.opt.Path)
	}
	return fi, nil
}

func (f *fileSource) parse(b []byte, fi os.FileInfo) (*table, error) {
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", f.opt.Setting, err)
	}
	t, err := newTable(c)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", f.opt.Setting, err)
	}
	t.asOf, t.sum = fi.ModTime(), sha256.Sum256(b)
	return t, nil
}

// fail reports a failure keyed key: logged and counted the first time
// only. It returns err.
func (p *ConfigProvider) fail(key string, err error) error {
	f := p.file
	if key != f.failing {
		f.failing = key
		p.metrics.reloads.WithLabelValues(reloadFailed).Inc()
		f.opt.Log.Error("rates file not reloaded: keeping the last good rates", "setting", f.opt.Setting,
			"err", err, "rates_from", p.cur.Load().asOf.UTC().Format(time.RFC3339))
	}
	f.err = err
	return err
}

// recovered ends a failure without a reload: the file is again what the
// rates in use came from.
func (p *ConfigProvider) recovered() {
	f := p.file
	if f.failing != "" {
		f.opt.Log.Info("rates file readable again, unchanged: failure over", "setting", f.opt.Setting)
	}
	f.failing, f.err = "", nil
}

// Reload looks at the rates file and, if it changed and is good, swaps its
// rates in: quotes priced from then on use them, those priced before keep
// the rate they locked. It reports whether the rates changed, and the
// error of a file that is not taken (logged and counted once while it
// stays the same). Fixed rates never reload.
func (p *ConfigProvider) Reload() (bool, error) {
	f := p.file
	if f == nil {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := f.stat()
	if err != nil {
		f.seen = nil
		return false, p.fail("stat:"+err.Error(), err)
	}
	if f.seen != nil && os.SameFile(f.seen, fi) && fi.ModTime().Equal(f.seen.ModTime()) && fi.Size() == f.seen.Size() {
		return false, f.err
	}
	b, err := f.opt.Read(f.opt.Path)
	if err != nil {
		f.seen = nil // tried again at the next poll
		return false, p.fail("read:"+err.Error(), err)
	}
	f.seen = fi
	cur := p.cur.Load()
	sum := sha256.Sum256(b)
	if sum == cur.sum {
		// Rewritten with the same content: no reload, but updated.
		p.recovered()
		if !fi.ModTime().Equal(cur.asOf) {
			t := *cur
			t.asOf = fi.ModTime()
			p.cur.Store(&t)
		}
		return false, nil
	}
	key := "content:" + hex.EncodeToString(sum[:])
	if key == f.failing {
		return false, f.err
	}
	t, err := f.parse(b, fi)
	if err != nil {
		return false, p.fail(key, err)
	}
	var removed []string
	for _, c := range cur.order {
		if _, ok := t.rates[c.Code]; !ok {
			removed = append(removed, c.Code)
		}
	}
	p.cur.Store(t)
	f.failing, f.err = "", nil
	p.metrics.reloads.WithLabelValues(reloadReloaded).Inc()
	codes := make([]string, len(t.order))
	for i, c := range t.order {
		codes[i] = c.Code
	}
	f.opt.Log.Info("rates file reloaded", "setting", f.opt.Setting, "currencies", codes,
		"modified", fi.ModTime().UTC().Format(time.RFC3339))
	if len(removed) > 0 {
		f.opt.Log.Warn("rates file reloaded without some currencies: they can no longer be quoted or received",
			"setting", f.opt.Setting, "removed", removed)
	}
	return true, nil
}

// Watch calls Reload every interval (0: DefaultReloadInterval), and at
// once whenever now receives, until ctx ends. Fixed rates return at once.
func (p *ConfigProvider) Watch(ctx context.Context, interval time.Duration, now <-chan struct{}) {
	if p.file == nil {
		return
	}
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-now:
			p.file.opt.Log.Info("rates file reload asked", "setting", p.file.opt.Setting)
		}
		p.Reload() //nolint:errcheck // reported by Reload itself
	}
}

// Age is how old the rates in use are: the time since their file was last
// modified (0 if in the future). Fixed rates are 0: they never age.
func (p *ConfigProvider) Age() time.Duration { return p.age(p.cur.Load()) }

func (p *ConfigProvider) age(t *table) time.Duration {
	if t.asOf.IsZero() {
		return 0
	}
	return max(p.clock.Now().Sub(t.asOf), 0)
}

// MaxAge is the maximum age of the rates (0: none).
func (p *ConfigProvider) MaxAge() time.Duration {
	if p.file == nil {
		return 0
	}
	return p.file.opt.MaxAge
}

func (p *ConfigProvider) fresh(t *table) error {
	max := p.MaxAge()
	if max <= 0 {
		return nil
	}
	if age := p.age(t); age > max {
		return fmt.Errorf("%w: last updated %s ago, more than the %s allowed", ErrStale,
			age.Truncate(time.Second), max)
	}
	return nil
}

// FreshRate is Rate for pricing new money: refused with an error wrapping
// ErrStale when the rates are older than the maximum age. The age and the
// rate come from one table.
func (p *ConfigProvider) FreshRate(ctx context.Context, code string) (Rate, error) {
	t := p.cur.Load()
	if err := p.fresh(t); err != nil {
		return Rate{}, err
	}
	return p.rate(t, code)
}

// freshChecker is implemented by providers whose rates can go stale.
type freshChecker interface {
	FreshRate(ctx context.Context, code string) (Rate, error)
}

// FreshRate is p's rate for code to price new money with: an error
// wrapping ErrStale if p knows its rates are too old.
func FreshRate(ctx context.Context, p Provider, code string) (Rate, error) {
	if f, ok := p.(freshChecker); ok {
		return f.FreshRate(ctx, code)
	}
	return p.Rate(ctx, code)
}

// metrics are a provider's Prometheus metrics.
type metrics struct {
	reloads *prometheus.CounterVec
}

func newMetrics() metrics {
	m := metrics{reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspd_rates_reloads_total",
		Help: "Reloads of the rates file, by outcome: reloaded (new rates in use), failed (a file not taken: unreadable, invalid or gone; counted once per content).",
	}, []string{"outcome"})}
	for _, o := range []string{reloadReloaded, reloadFailed} {
		m.reloads.WithLabelValues(o)
	}
	return m
}

// Register registers the provider's metrics with reg.
func (p *ConfigProvider) Register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vaspd_rates_age_seconds",
			Help: "Age of the exchange rates in use: seconds since the rates file they came from was last modified (0 for the built-in demo rates).",
		}, func() float64 { return p.Age().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vaspd_rates_max_age_seconds",
			Help: "The rates-max-age setting in seconds (0: off): older rates price no new money.",
		}, func() float64 { return p.MaxAge().Seconds() }),
		p.metrics.reloads,
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}
