package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A database that cannot be opened is blamed on the setting that chose
// it: data-dir when database-url is not set (the operator may never have
// heard of database-url), database-url when it is.
func TestUnopenableDatabaseNamesItsSetting(t *testing.T) {
	t.Parallel()
	garbage := []byte(strings.Repeat("not an SQLite database ", 40))
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vaspd.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "other.db")
	if err := os.WriteFile(file, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for want, cfg := range map[string]Config{
		"setting data-dir: ":     {DataDir: dir},
		"setting database-url: ": {DataDir: t.TempDir(), DatabaseURL: "sqlite:" + file},
	} {
		_, _, errc := startLogged(t, cfg)
		if err := refused(t, errc); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q, want it to start %q", err, want)
		}
	}
}
