package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store/storetest"
)

// An explicit lightning-initial-balance-msat of 0, from a flag, the
// environment or the config file, creates the embedded node empty: it
// used to mean the default, 1 BTC, without a word. Left unset (or null in
// the file) the setting is the default; so is a Config built in Go that
// leaves InitialBalanceMsat at 0 (the demo's and tests'), while its
// StartEmpty asks for an empty node.
func TestInitialBalanceZeroStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	parsed := func(args []string, env map[string]string) func() Config {
		return func() Config { return parseConfig(t, args, env) }
	}
	inGo := func(f func(*LightningConfig)) func() Config {
		return func() Config {
			c := baseConfig()
			f(&c.Lightning)
			return c
		}
	}
	for _, c := range []struct {
		name string
		cfg  func() Config
		want int64
	}{
		{"flag", parsed([]string{"--lightning-initial-balance-msat", "0"}, nil), 0},
		{"environment", parsed(nil, map[string]string{"VASPD_LIGHTNING_INITIAL_BALANCE_MSAT": "0"}), 0},
		{"file", parsed([]string{"--config", file("zero.yaml", "lightning-initial-balance-msat: 0\n")}, nil), 0},
		{"flag over environment", parsed([]string{"--lightning-initial-balance-msat=0"},
			map[string]string{"VASPD_LIGHTNING_INITIAL_BALANCE_MSAT": "5000"}), 0},
		{"unset", parsed(nil, nil), embedded.DefaultInitialBalanceMsat},
		{"null in the file", parsed([]string{"--config", file("null.yaml", "lightning-initial-balance-msat: ~\n")}, nil), embedded.DefaultInitialBalanceMsat},
		{"set", parsed([]string{"--lightning-initial-balance-msat", "5000"}, nil), 5000},
		{"Go zero value", inGo(func(*LightningConfig) {}), embedded.DefaultInitialBalanceMsat},
		{"Go StartEmpty", inGo(func(l *LightningConfig) { l.StartEmpty = true }), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg()
			if err := cfg.Resolve(); err != nil {
				t.Fatal(err)
			}
			_, n, err := openLightning(context.Background(), storetest.SQLite(t), cfg.Lightning, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			b, err := n.Balance(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if b != c.want {
				t.Fatalf("the embedded node opened with %d msat, want %d", b, c.want)
			}
		})
	}
	// StartEmpty with a balance is a contradiction, named.
	c := baseConfig()
	c.Lightning = LightningConfig{StartEmpty: true, InitialBalanceMsat: 1000}
	resolveErr(t, c, "setting lightning-initial-balance-msat", "")
}
