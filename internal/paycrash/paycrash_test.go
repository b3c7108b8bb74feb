package paycrash

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPaymentCrash is a small run of the crash test: vaspd built from this
// tree, two processes paying each other while the sender and the receiver
// are each SIGKILLed once with a payment in flight, then every promise
// checked. scripts/ci/payment-crash.sh runs the full one.
func TestPaymentCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds vaspd and runs two daemons through SIGKILLs (about 30 s)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build vaspd with")
	}
	bin := filepath.Join(t.TempDir(), "vaspd")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/vaspd/vaspd/cmd/vaspd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build vaspd: %v\n%s", err, out)
	}
	run := func(t *testing.T, db, pg string) {
		// A machine this slow makes its kills within 55 % of the time
		// (Options.Kills), and waits at most a minute for the end.
		sum, bad, err := Run(t.Context(), Options{Vaspd: bin, DB: db, PostgresURL: pg,
			Payments: 15, Workers: 3, Rate: 6, Kills: 2, Timeout: 150 * time.Second, Log: testLog{t}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", sum)
		for _, b := range bad {
			t.Error(b)
		}
		if sum.Kills != 2 || sum.KillsOf["sender"] != 1 || sum.KillsOf["receiver"] != 1 || sum.Payments < 15 {
			t.Errorf("the run made %d kills (%v) and %d payments, want one kill of each and 15 payments at least",
				sum.Kills, sum.KillsOf, sum.Payments)
		}
	}
	t.Run("SQLite", func(t *testing.T) { run(t, "sqlite", "") })
	t.Run("PostgreSQL", func(t *testing.T) {
		pg := os.Getenv("VASPD_TEST_POSTGRES_URL")
		if pg == "" {
			t.Skip("PostgreSQL: VASPD_TEST_POSTGRES_URL is not set")
		}
		run(t, "postgres", pg)
	})
}

// testLog passes the run's progress, and the daemons' logs on a failure,
// to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
