//go:build unix

package daemon

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// reloads is vaspd_rates_reloads_total{outcome} of d.
func reloads(t *testing.T, d *Daemon, outcome string) float64 {
	t.Helper()
	mfs, err := d.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vaspd_rates_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelIs(m, "outcome", outcome) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func waitLog(t *testing.T, log *syncBuffer, what string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(log.String(), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (%d) in the log:\n%s", what, n, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRatesReloadOnSIGHUP: with rates-file, vaspd reloads it at once on
// SIGHUP (its interval here an hour); a bad file is logged once as an
// ERROR naming the setting, and counted, the last good rates kept.
func TestRatesReloadOnSIGHUP(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rates.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write("currencies:\n  - {code: USD, decimals: 2, btcPrice: \"100000\"}\n")
	cfg := Config{DataDir: t.TempDir()}
	cfg.Payments.RatesFile, cfg.Payments.RatesReloadInterval = file, time.Hour
	d, log, errc := startLogged(t, cfg)
	waitUp(t, d, errc)
	waitLog(t, log, "rates file watched", 1)

	write("currencies:\n  - {code: USD, decimals: 2, btcPrice: \"90000\"}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "rates file reloaded", 1)
	if n := reloads(t, d, "reloaded"); n != 1 {
		t.Fatalf("reloaded %v", n)
	}

	write("currencies:\n  - {code: USD, decimals: 2, btcPrice: \"9000")
	for i := range 2 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLog(t, log, "rates file reload asked", 2+i)
	}
	waitLog(t, log, `"level":"ERROR"`, 1)
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(log.String(), `"level":"ERROR"`); n != 1 || !strings.Contains(log.String(), `"setting":"rates-file"`) {
		t.Fatalf("%d ERROR lines for one bad file:\n%s", n, log.String())
	}
	if n := reloads(t, d, "failed"); n != 1 {
		t.Fatalf("failed %v", n)
	}
}

// TestSIGHUPWithoutRatesFileGoesOn: a SIGHUP (`systemctl reload`, a
// terminal's hang-up) never ends vaspd: with the built-in rates there is
// nothing to reload, which is logged, and it goes on serving. Go's default
// for SIGHUP is to exit — the test process itself, had vaspd not caught it.
func TestSIGHUPWithoutRatesFileGoesOn(t *testing.T) {
	d, log, errc := startLogged(t, Config{DataDir: t.TempDir()})
	waitUp(t, d, errc)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "nothing to reload", 1)
	select {
	case err := <-errc:
		t.Fatalf("vaspd stopped on SIGHUP: %v", err)
	default:
	}
	resp, err := http.Get("http://" + d.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz after SIGHUP: %d", resp.StatusCode)
	}
}
