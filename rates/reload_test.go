package rates

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/vaspd/vaspd"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func ratesYAML(usd string, withEUR bool) string {
	s := "currencies:\n  - {code: USD, decimals: 2, btcPrice: \"" + usd + "\", min: 1}\n"
	if withEUR {
		s += "  - {code: EUR, decimals: 2, btcPrice: \"90000\", min: 1}\n"
	}
	return s
}

// writeRates writes content to path as operators should (a temporary
// file renamed over it), modified at mod.
func writeRates(t testing.TB, path, content string, mod time.Time) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type reloadEnv struct {
	path  string
	clock *vaspd.FakeClock
	log   *bytes.Buffer
	p     *ConfigProvider
}

func newReloadEnv(t *testing.T, maxAge time.Duration) *reloadEnv {
	t.Helper()
	e := &reloadEnv{path: filepath.Join(t.TempDir(), "rates.yaml"), clock: vaspd.NewFakeClock(t0), log: &bytes.Buffer{}}
	writeRates(t, e.path, ratesYAML("100000", true), t0)
	p, err := NewFileProvider(FileOptions{Path: e.path, Setting: "rates-file", MaxAge: maxAge, Clock: e.clock,
		Log: slog.New(slog.NewTextHandler(e.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	return e
}

func (e *reloadEnv) usdPer(t *testing.T) string {
	t.Helper()
	r, err := e.p.Rate(context.Background(), "USD")
	if err != nil {
		t.Fatal(err)
	}
	return r.MsatsPerUnit().RatString()
}

func (e *reloadEnv) count(outcome string) float64 {
	var m dto.Metric
	if err := e.p.metrics.reloads.WithLabelValues(outcome).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func (e *reloadEnv) errors() int { return strings.Count(e.log.String(), "level=ERROR") }

func TestReloadTakesChangedFile(t *testing.T) {
	e := newReloadEnv(t, 0)
	if got := e.usdPer(t); got != "10000" { // 10^11 / (100000 × 100)
		t.Fatalf("USD msats per cent = %s, want 10000", got)
	}
	if changed, err := e.p.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: Reload = %v, %v", changed, err)
	}
	writeRates(t, e.path, ratesYAML("50000", true), t0.Add(time.Minute))
	if changed, err := e.p.Reload(); !changed || err != nil {
		t.Fatalf("changed file: Reload = %v, %v", changed, err)
	}
	if got := e.usdPer(t); got != "20000" {
		t.Fatalf("after reload USD msats per cent = %s, want 20000", got)
	}
	if e.count("reloaded") != 1 || e.count("failed") != 0 {
		t.Fatalf("reloads: reloaded %v failed %v", e.count("reloaded"), e.count("failed"))
	}
	// A currency removed is allowed, and logged.
	writeRates(t, e.path, ratesYAML("50000", false), t0.Add(2*time.Minute))
	if changed, err := e.p.Reload(); !changed || err != nil {
		t.Fatalf("EUR removed: Reload = %v, %v", changed, err)
	}
	if _, ok := e.p.Lookup("EUR"); ok {
		t.Fatal("EUR still served after its removal")
	}
	if !strings.Contains(e.log.String(), "removed=[EUR]") {
		t.Fatalf("removal not logged:\n%s", e.log)
	}
}

func TestReloadEqualContentIsNoReload(t *testing.T) {
	e := newReloadEnv(t, time.Hour)
	e.clock.Advance(50 * time.Minute)
	writeRates(t, e.path, ratesYAML("100000", true), t0.Add(50*time.Minute))
	if changed, err := e.p.Reload(); changed || err != nil {
		t.Fatalf("same content rewritten: Reload = %v, %v", changed, err)
	}
	if e.count("reloaded") != 0 {
		t.Fatal("a rewrite with the same content was counted as a reload")
	}
	// But it is an update: the writer confirmed the prices.
	e.clock.Advance(30 * time.Minute)
	if age := e.p.Age(); age != 30*time.Minute {
		t.Fatalf("age = %s, want 30m from the rewrite", age)
	}
	if _, err := FreshRate(t.Context(), e.p, "USD"); err != nil {
		t.Fatal(err)
	}
}

func TestReloadBadFileKeepsLastGood(t *testing.T) {
	e := newReloadEnv(t, 0)
	for i, bad := range []string{
		"currencies:\n  - {code: USD, decimals: 2, btcPrice: \"10000", // half written
		ratesYAML("-5", true), // invalid price
		"currencies: []\n",
	} {
		mod := t0.Add(time.Duration(i+1) * time.Minute)
		writeRates(t, e.path, bad, mod)
		for range 3 {
			if changed, err := e.p.Reload(); changed || err == nil || !strings.Contains(err.Error(), "setting rates-file") {
				t.Fatalf("bad file %d: Reload = %v, %v", i, changed, err)
			}
		}
		// The same content rewritten is the same failure.
		writeRates(t, e.path, bad, mod.Add(time.Second))
		if _, err := e.p.Reload(); err == nil {
			t.Fatalf("bad file %d rewritten: taken", i)
		}
		if got := e.usdPer(t); got != "10000" {
			t.Fatalf("bad file %d: USD msats per cent = %s, want the last good 10000", i, got)
		}
		if e.count("failed") != float64(i+1) || e.errors() != i+1 {
			t.Fatalf("bad file %d: failed %v, ERROR lines %d, want %d:\n%s", i, e.count("failed"), e.errors(), i+1, e.log)
		}
	}
	writeRates(t, e.path, ratesYAML("50000", true), t0.Add(time.Hour))
	if changed, err := e.p.Reload(); !changed || err != nil {
		t.Fatalf("fixed file: Reload = %v, %v", changed, err)
	}
	if got := e.usdPer(t); got != "20000" {
		t.Fatalf("fixed file: USD msats per cent = %s", got)
	}
}

func TestReloadVanishedFile(t *testing.T) {
	e := newReloadEnv(t, 0)
	if err := os.Remove(e.path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := e.p.Reload(); err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("vanished file: Reload error %v", err)
		}
	}
	if got := e.usdPer(t); got != "10000" || e.count("failed") != 1 || e.errors() != 1 {
		t.Fatalf("vanished file: USD %s, failed %v, ERROR lines %d:\n%s", got, e.count("failed"), e.errors(), e.log)
	}
	// Back with the same content and time: nothing to reload, failure over.
	writeRates(t, e.path, ratesYAML("100000", true), t0)
	if changed, err := e.p.Reload(); changed || err != nil {
		t.Fatalf("file back: Reload = %v, %v", changed, err)
	}
	if err := os.Remove(e.path); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Reload(); err == nil || e.count("failed") != 2 {
		t.Fatalf("vanished again: %v, failed %v", err, e.count("failed"))
	}
}

func TestStaleRatesRefused(t *testing.T) {
	ctx := context.Background()
	e := newReloadEnv(t, time.Hour)
	e.clock.Advance(time.Hour)
	if _, err := e.p.FreshRate(ctx, "USD"); err != nil {
		t.Fatalf("rates exactly max-age old: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := FreshRate(ctx, e.p, "USD"); !errors.Is(err, ErrStale) {
		t.Fatalf("stale FreshRate: %v", err)
	}
	if _, err := e.p.Rate(ctx, "USD"); err != nil { // describing a currency still works
		t.Fatal(err)
	}
	writeRates(t, e.path, ratesYAML("100000", true), e.clock.Now())
	if _, err := e.p.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := FreshRate(ctx, e.p, "USD"); err != nil {
		t.Fatalf("after a fresh write: %v", err)
	}
	// Fixed rates are never stale.
	fixed, err := NewConfigProvider(DefaultConfig(), e.clock)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(1000 * time.Hour)
	if _, err := FreshRate(ctx, fixed, "USD"); err != nil || fixed.Age() != 0 {
		t.Fatalf("fixed rates: %v, age %s", err, fixed.Age())
	}
	if changed, err := fixed.Reload(); changed || err != nil {
		t.Fatalf("fixed rates reloaded: %v, %v", changed, err)
	}
}

// TestReloadConcurrentReaders: readers during swaps see one table or the
// other, whole (go test -race).
func TestReloadConcurrentReaders(t *testing.T) {
	e := newReloadEnv(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cs, _ := e.p.Currencies(ctx)
				r, err := e.p.FreshRate(ctx, "USD")
				if err != nil {
					errs <- err
					return
				}
				per := r.MsatsPerUnit().RatString()
				if (len(cs) != 1 && len(cs) != 2) || (per != "10000" && per != "20000") {
					errs <- fmt.Errorf("currencies %v, USD %s", cs, per)
					return
				}
			}
		}()
	}
	for i := range 50 {
		writeRates(t, e.path, ratesYAML([]string{"50000", "100000"}[i%2], i%2 == 1), t0.Add(time.Duration(i+1)*time.Second))
		if changed, err := e.p.Reload(); !changed || err != nil {
			t.Errorf("swap %d: %v, %v", i, changed, err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if e.count("reloaded") != 50 {
		t.Fatalf("reloaded %v, want 50", e.count("reloaded"))
	}
}

// TestWatchReloadsOnDemand: Watch reloads when told, not only at its
// interval.
func TestWatchReloadsOnDemand(t *testing.T) {
	e := newReloadEnv(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := make(chan struct{})
	done := make(chan struct{})
	go func() { e.p.Watch(ctx, time.Hour, now); close(done) }()
	writeRates(t, e.path, ratesYAML("50000", true), t0.Add(time.Minute))
	now <- struct{}{}
	now <- struct{}{} // the first was handled once the second is taken
	if got := e.usdPer(t); got != "20000" {
		t.Fatalf("after asking: USD %s", got)
	}
	cancel()
	<-done
}

// TestReloadSeesRenameWithSameTimeAndSize: a file renamed over the old one
// with the same size and modification time (a coarse clock, a copy keeping
// times) is still noticed: it is another file.
func TestReloadSeesRenameWithSameTimeAndSize(t *testing.T) {
	e := newReloadEnv(t, 0)
	writeRates(t, e.path, ratesYAML("200000", true), t0) // as long as "100000"
	if changed, err := e.p.Reload(); !changed || err != nil {
		t.Fatalf("another file, same size and time: Reload = %v, %v", changed, err)
	}
	if got := e.usdPer(t); got != "5000" {
		t.Fatalf("USD msats per cent = %s, want 5000", got)
	}
}
