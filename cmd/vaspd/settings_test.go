package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/daemon"
)

// planted stands for a password or shared secret, which nothing printed
// may hold.
const planted = "hunter2Zq9xV7pw"

// settingNames is every setting serve has, in declaration order.
func settingNames() []string {
	var cfg daemon.Config
	set := &config.Set{}
	cfg.Declare(set)
	var names []string
	for _, s := range set.Settings() {
		names = append(names, s.Name)
	}
	return names
}

// givenEverywhere sets settings in each of the four places: a file (named
// by an environment variable) with two, one of them overridden by a flag,
// environment variables with two secrets, and returns the flags.
func givenEverywhere(t *testing.T) (file string, flags []string) {
	t.Helper()
	t.Chdir(t.TempDir()) // a command that opened the default ./vaspd-data would create it here
	file = filepath.Join(t.TempDir(), "vaspd.yaml")
	if err := os.WriteFile(file, []byte("invoice-expiry: 20m\nlisten: 127.0.0.1:9999\nlog-level: ~\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VASPD_CONFIG", file)
	t.Setenv("VASPD_DATABASE_URL", "postgres://vaspd:"+planted+"@127.0.0.1:1/vaspd?sslmode=disable")
	t.Setenv("VASPD_DEVNET_SECRET", planted)
	t.Setenv("VASPD_LOG_FORMAT", "") // empty: unset
	return file, []string{"--listen", "127.0.0.1:0", "--db-retry-timeout", "1ms"}
}

// serve logs its settings once at start, before anything can fail: one
// INFO record of those given, with their values (secrets masked) and
// sources, and the number at their defaults, which a DEBUG record lists.
func TestServeLogsItsSettings(t *testing.T) {
	_, flags := givenEverywhere(t)
	// The database is not there: serve stops once it has given up on it.
	code, _, errs := runCmd(append([]string{"serve", "--log-format", "json", "--log-level", "debug"}, flags...)...)
	if code != 1 || strings.Contains(errs, planted) {
		t.Fatalf("exit %d, stderr %s; want exit 1 (no database) and no secret", code, errs)
	}
	type shown struct{ Value, Source string }
	var info, debug struct {
		Level, Msg string
		Settings   map[string]shown
		AtDefault  *int `json:"at_default"`
	}
	records := strings.Split(errs, "\n")
	if len(records) < 2 || json.Unmarshal([]byte(records[0]), &info) != nil || json.Unmarshal([]byte(records[1]), &debug) != nil {
		t.Fatalf("stderr %s; want the settings' records first", errs)
	}
	if info.Level != "INFO" || info.Msg != "vaspd settings" || debug.Level != "DEBUG" || debug.Msg != "vaspd settings at their defaults" {
		t.Fatalf("records %+v, %+v", info, debug)
	}
	want := map[string]shown{
		"config":           {info.Settings["config"].Value, "env VASPD_CONFIG"},
		"listen":           {"127.0.0.1:0", "flag --listen"},
		"db-retry-timeout": {"1ms", "flag --db-retry-timeout"},
		"log-format":       {"json", "flag --log-format"},
		"log-level":        {"debug", "flag --log-level"},
		"invoice-expiry":   {"20m0s", "file " + info.Settings["config"].Value},
		"database-url":     {"postgres://vaspd:xxxxx@127.0.0.1:1/vaspd?sslmode=disable", "env VASPD_DATABASE_URL"},
		"devnet-secret":    {config.Masked, "env VASPD_DEVNET_SECRET"},
	}
	if len(info.Settings) != len(want) {
		t.Errorf("INFO lists %d settings, want %d: %v", len(info.Settings), len(want), info.Settings)
	}
	for name, w := range want {
		if info.Settings[name] != w {
			t.Errorf("INFO: %s is %+v, want %+v", name, info.Settings[name], w)
		}
	}
	names := settingNames()
	if info.AtDefault == nil || *info.AtDefault != len(names)-len(want) || len(debug.Settings) != *info.AtDefault {
		t.Errorf("at_default %v, DEBUG lists %d; want %d", info.AtDefault, len(debug.Settings), len(names)-len(want))
	}
	if d := debug.Settings["domain"]; d != (shown{"localhost:0", "default"}) {
		t.Errorf("DEBUG: domain %+v", d)
	}
}
