package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/daemon"
)

// `vaspd config show` prints every setting serve has, once, in aligned
// columns: the value serve would run with, secrets masked (database-url
// without its password), and where it came from. It opens no database (the
// one named is not there) and creates nothing.
func TestConfigShowText(t *testing.T) {
	file, flags := givenEverywhere(t)
	code, out, errs := runCmd(append([]string{"config", "show"}, flags...)...)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if strings.Contains(out, planted) {
		t.Fatalf("the output holds a secret:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	names := settingNames()
	if len(lines) != len(names)+1 || strings.Fields(lines[0])[0] != "NAME" {
		t.Fatalf("%d lines, want a header and %d settings:\n%s", len(lines), len(names), out)
	}
	valueAt, sourceAt := strings.Index(lines[0], "VALUE"), strings.Index(lines[0], "SOURCE")
	got := map[string][2]string{}
	for i, l := range lines[1:] {
		name := strings.TrimSpace(l[:valueAt])
		if name != names[i] || l[valueAt-1] != ' ' || l[valueAt] == ' ' || l[sourceAt-1] != ' ' || l[sourceAt] == ' ' {
			t.Errorf("line %q: want %s and its columns under the header's", l, names[i])
		}
		got[name] = [2]string{strings.TrimSpace(l[valueAt:sourceAt]), strings.TrimSpace(l[sourceAt:])}
	}
	for name, want := range map[string][2]string{
		"config":         {file, "env VASPD_CONFIG"},
		"listen":         {"127.0.0.1:0", "flag --listen"},
		"invoice-expiry": {"20m0s", "file " + file},
		"database-url":   {"postgres://vaspd:xxxxx@127.0.0.1:1/vaspd?sslmode=disable", "env VASPD_DATABASE_URL"},
		"devnet-secret":  {config.Masked, "env VASPD_DEVNET_SECRET"},
		"log-level":      {"info", "default"}, // a YAML null
		"log-format":     {"auto", "default"}, // an empty variable
		"domain":         {"localhost:0", "default"},
		"rates-file":     {`""`, "default"},
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
	if _, err := os.Stat("vaspd-data"); !os.IsNotExist(err) {
		t.Errorf("config show created the data directory (%v)", err)
	}
}

// `vaspd config show --json` is one JSON document: every setting, in
// order, with its value (secrets masked), its source and what gave it.
func TestConfigShowJSON(t *testing.T) {
	file, flags := givenEverywhere(t)
	code, out, errs := runCmd(append([]string{"config", "show", "--json"}, flags...)...)
	if code != 0 || errs != "" || strings.Contains(out, planted) {
		t.Fatalf("exit %d, stderr %q, stdout %s", code, errs, out)
	}
	var doc struct {
		Settings []struct {
			Name, Value, Source, From string
			Secret                    bool
		}
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || dec.More() {
		t.Fatalf("not one JSON document (%v):\n%s", err, out)
	}
	names := settingNames()
	if len(doc.Settings) != len(names) {
		t.Fatalf("%d settings, want %d", len(doc.Settings), len(names))
	}
	for i, s := range doc.Settings {
		if s.Name != names[i] {
			t.Errorf("setting %d is %s, want %s", i, s.Name, names[i])
		}
		want := map[string][4]string{
			"config":        {file, "env", "VASPD_CONFIG"},
			"listen":        {"127.0.0.1:0", "flag", "--listen"},
			"log-level":     {"info", "default", ""},
			"database-url":  {"postgres://vaspd:xxxxx@127.0.0.1:1/vaspd?sslmode=disable", "env", "VASPD_DATABASE_URL", "secret"},
			"devnet-secret": {config.Masked, "env", "VASPD_DEVNET_SECRET", "secret"},
		}[s.Name]
		if want[0] == "" {
			continue
		}
		if got := [4]string{s.Value, s.Source, s.From, map[bool]string{true: "secret"}[s.Secret]}; got != want {
			t.Errorf("%s: %q, want %q", s.Name, got, want)
		}
	}
}

// A bad setting stops `vaspd config show` as it stops serve: exit code 1
// and the same one line (the command's name aside), which never quotes a
// secret, and nothing on stdout.
func TestConfigShowRefusesWhatServeRefuses(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--listen", "nope"},
		{"--listen", "127.0.0.1:99999"},
		{"--database-url", "postgres://vaspd:" + planted + "@db.example:bad/vaspd"},
		{"--database-url", "mysql://vaspd:" + planted + "@db.example/vaspd"},
		{"--database-url", "sqlite:/var/lib/vaspd.db?_key=" + planted},
		{"--lightning", "lnd", "--lnd-rest-url", "https://u:" + planted + "@lnd.example:bad"},
		{"--config", filepath.Join(dir, "missing.yaml")},
		{"--uma-signing-key-file", filepath.Join(dir, "missing")},
		{"--webhook-timeout", "1ms"},
		{"--invoice-expiry", "soon"},
	} {
		code, out, errs := runCmd(append([]string{"config", "show"}, args...)...)
		serveCode, _, serveErrs := runCmd(append([]string{"serve"}, args...)...)
		last := func(s string) string {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			return lines[len(lines)-1]
		}
		want := strings.Replace(last(serveErrs), "vaspd serve: ", "vaspd config: ", 1)
		if code != 1 || serveCode != 1 || out != "" || last(errs) != want || strings.Contains(errs, planted) {
			t.Errorf("%q: exit %d (serve %d), stdout %q, stderr %q; want exit 1 and %q", args, code, serveCode, out, errs, want)
		}
	}
}

// Each setting is one line of three columns: a value with white space is
// quoted, and so is a file path with a line end in the source.
func TestConfigShowQuotes(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := filepath.Join(t.TempDir(), "a\nb")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "vaspd.yaml")
	if err := os.WriteFile(file, []byte("data-dir: my data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("config", "show", "--config", file)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if n := strings.Count(out, "\n"); n != len(settingNames())+1 {
		t.Errorf("%d lines, want %d:\n%s", n, len(settingNames())+1, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "data-dir" {
			if !strings.Contains(l, ` "my data" `) || !strings.HasSuffix(l, "  file "+strconv.Quote(file)) {
				t.Errorf("data-dir: %q, want the value \"my data\" and the source file %s", l, strconv.Quote(file))
			}
			return
		}
	}
	t.Errorf("no data-dir line:\n%s", out)
}

// A value or a source with a bidi control (U+202E reverses what follows
// it on a terminal) or a C1 control is quoted, escaped, as one with a C0
// control is: shown raw, it would make the line read other than it is.
func TestConfigShowQuotesBidiControls(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, v := range []string{"data\u202etad", "data\u2066x", "data\u0085x", "data\u200bx"} {
		code, out, errs := runCmd("config", "show", "--data-dir", v)
		if code != 0 || errs != "" {
			t.Fatalf("--data-dir %q: exit %d, stderr %q", v, code, errs)
		}
		want := " " + strconv.Quote(v) + " "
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "data-dir ") && !strings.Contains(l, want) {
				t.Errorf("--data-dir %q: %q, want the value quoted, %s", v, l, want)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "etc\u202elmay.yaml")
	if err := os.WriteFile(file, []byte("log-level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("config", "show", "--config", file)
	if code != 0 || errs != "" {
		t.Fatalf("--config %q: exit %d, stderr %q", file, code, errs)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "log-level ") && !strings.HasSuffix(l, "  file "+strconv.Quote(file)) {
			t.Errorf("log-level: %q, want the source file %s", l, strconv.Quote(file))
		}
	}
}

// A VASPD_* variable close to a setting's but no setting's own (a typo)
// was ignored without a word: VASPD_DATABSE_URL ran serve on SQLite in
// ./vaspd-data. `vaspd config show` names it, and the setting it is close
// to, on stderr (never its value), and serve logs it as a WARN.
func TestConfigShowNamesMisspeltVariables(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("VASPD_DATABSE_URL", "postgres://vaspd:s3cret@db.example.com/vaspd")
	code, out, errs := runCmd("config", "show")
	if code != 0 || !strings.Contains(errs, "VASPD_DATABSE_URL") || !strings.Contains(errs, "VASPD_DATABASE_URL") ||
		strings.Contains(out+errs, "s3cret") || !strings.Contains(out, "database-url ") {
		t.Errorf("exit %d, stderr %q; want exit 0 and a warning naming VASPD_DATABSE_URL and VASPD_DATABASE_URL, without the value", code, errs)
	}
	var log bytes.Buffer
	logMisspelt(slog.New(slog.NewTextHandler(&log, nil)), misspelt(t))
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "VASPD_DATABSE_URL") || strings.Contains(log.String(), "s3cret") {
		t.Errorf("serve's log: %q, want a WARN naming VASPD_DATABSE_URL", log.String())
	}
}

func misspelt(t *testing.T) []config.Misspelt {
	t.Helper()
	var cfg daemon.Config
	set := &config.Set{}
	cfg.Declare(set)
	return set.MisspeltVariables(os.Environ())
}
