package daemon

import (
	"strings"
	"testing"
)

// baseConfig is the least a Resolve needs (what flags' defaults give).
func baseConfig() Config {
	return Config{DataDir: "d", Listen: "127.0.0.1:8080", LogFormat: "auto", LogLevel: "info"}
}

// resolveErr resolves c and checks the error names want and does not
// contain secret (when given).
func resolveErr(t *testing.T, c Config, want, secret string) {
	t.Helper()
	err := c.Resolve()
	if err == nil || !strings.Contains(err.Error(), want) || (secret != "" && strings.Contains(err.Error(), secret)) ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line naming %q (without %q)", err, want, secret)
	}
}

// An SQLite database that is not a file (sqlite: with no path, or
// SQLite's :memory:) would hold the keys, tokens and ledger until the
// process stops, then lose them: refused, naming the setting.
func TestDatabaseURLMustNameAFile(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"sqlite:", "sqlite://", "sqlite: ", "sqlite::memory:", "sqlite://:memory:"} {
		c := baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url", "")
	}
	c := baseConfig()
	c.DatabaseURL = "sqlite:/var/lib/vaspd/vaspd.db"
	if err := c.Resolve(); err != nil {
		t.Errorf("a file path: %v", err)
	}
}

// A PostgreSQL URL the driver cannot parse is a broken setting, not an
// unreachable database: Resolve refuses it (openDB would otherwise retry
// it forever with db-retry-timeout 0), never echoing its password.
func TestUnparsablePostgresURLIsRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://u:s3cret@db.example.com:99999/vaspd",
		"postgres://u:s3cret@db.example.com/vaspd?sslmode=bogus",
		"postgresql://db.example.com/vaspd?password=s3cret&connect_timeout=soon",
	} {
		c := baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url", "s3cret")
	}
}
