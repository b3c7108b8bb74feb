package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/daemon"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "vaspd ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd("frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if code, _, _ := runCmd(); code != 2 {
		t.Fatalf("no command: %d", code)
	}
}

func TestServeHelpListsEverySetting(t *testing.T) {
	code, out, _ := runCmd("serve", "--help")
	if code != 0 {
		t.Fatalf("serve --help exited %d", code)
	}
	for _, want := range []string{"-data-dir", "./vaspd-data", "VASPD_DATA_DIR", "-database-url", "-listen", "127.0.0.1:8080",
		"-domain", "-base-url", "-log-format", "-config", "-uma-signing-key-file"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help does not mention %q", want)
		}
	}
}

func TestBadConfigIsOneClearLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--database-url", "mysql://x"}, "setting database-url"},
		{[]string{"serve", "--listen", "nope"}, "setting listen"},
		{[]string{"serve", "--base-url", "https://pay.example.com/?ref=x"}, "setting base-url"},
		{[]string{"serve", "--base-url", "pay.example.com"}, "setting base-url"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, "setting config"},
		{[]string{"serve", "--uma-signing-key-file", filepath.Join(dir, "missing")}, "setting uma-signing-key-file"},
		{[]string{"serve", "--data-dir", "/proc/vaspd-cannot-write-here", "--listen", "127.0.0.1:0"}, "setting data-dir"},
		{[]string{"serve", "--webhook-retry-window", "-1h"}, "setting webhook-retry-window from --webhook-retry-window: want a duration"}, // refused as it is parsed
		// Every attempt would time out, retried for 3 days. Refused
		// before the database is opened (a data directory that cannot be
		// made would be refused next: a server that took the value would
		// not start serving).
		{[]string{"serve", "--webhook-timeout", "1ms", "--data-dir", "/proc/vaspd-cannot-write-here", "--listen", "127.0.0.1:0"},
			"setting webhook-timeout: want 0 (the default, 10s) or from 1s to 1m0s, got 1ms"},
		{[]string{"serve", "--approval-timeout", "1ms", "--data-dir", "/proc/vaspd-cannot-write-here", "--listen", "127.0.0.1:0"},
			"setting approval-timeout"},
	} {
		code, _, errs := runCmd(c.args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		last := lines[len(lines)-1]
		if code != 1 || !strings.Contains(last, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and a line naming %q", c.args, code, errs, c.want)
		}
	}
}

// A token created by the CLI authenticates against the server; a VIEW token
// gets 403 on a MANAGE endpoint; a wrong secret gets 401. The server runs
// first: it creates and migrates the database, which the CLI does not.
func TestTokenCreateCLIAuthenticates(t *testing.T) {
	dir := t.TempDir()
	url, stop := serveInProcess(t, dir)
	id, secret := createTokenCLI(t, dir, "ops", "VIEW")
	status := func(path, id, secret string) int {
		req, _ := http.NewRequest("GET", url+path, nil)
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := status("/tokens", id, secret); st != 403 {
		t.Errorf("VIEW token on MANAGE endpoint: %d, want 403", st)
	}
	if st := status("/tokens", id, secret+"x"); st != 401 {
		t.Errorf("wrong secret: %d, want 401", st)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// serveInProcess runs `vaspd serve` on dir until the returned stop, which
// gives its exit code; it returns once the server is ready.
func serveInProcess(t *testing.T, dir string) (url string, stop func() int) {
	t.Helper()
	return serveWith(t, "--data-dir", dir)
}

// serveWith is serveInProcess with settings given as flags.
func serveWith(t *testing.T, flags ...string) (url string, stop func() int) {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var o, e bytes.Buffer
		done <- run(ctx, append([]string{"serve", "--listen", addr, "--log-format", "json"}, flags...), &o, &e)
	}()
	code, stopped := 0, false
	stop = func() int {
		if !stopped {
			cancel()
			code, stopped = <-done, true
		}
		return code
	}
	t.Cleanup(func() { stop() })
	url = "http://" + addr
	deadline := time.Now().Add(3 * time.Minute) // a new database migrates first (see storetest's openTimeout)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSecondServeOnSQLiteExitsAtOnce: SQLite is a one-process deployment,
// so a second `vaspd serve` on the data directory stops at once with one
// line saying why; `vaspd token` beside the server still works (its short
// transactions wait on SQLite's own lock).
func TestSecondServeOnSQLiteExitsAtOnce(t *testing.T) {
	switch runtime.GOOS {
	case "darwin", "dragonfly", "freebsd", "illumos", "linux", "netbsd", "openbsd": // flock: see internal/daemon/lock.go
	default:
		t.Skip("no flock on " + runtime.GOOS + ": a second serve is not refused")
	}
	dir := t.TempDir()
	url, stop := serveInProcess(t, dir)

	// Bounded: a second server that is not refused runs until this ends,
	// then stops with exit code 0.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	begin := time.Now()
	var o, e bytes.Buffer
	code := run(ctx, []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-format", "json"}, &o, &e)
	errs := e.String()
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	last := lines[len(lines)-1]
	if code != 1 || !strings.Contains(last, "another vaspd process") || !strings.Contains(last, dir) {
		t.Errorf("second serve: exit %d, stderr %q; want exit 1 and a line naming %s and the other process", code, errs, dir)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("second serve took %s to give up", d)
	}

	id, secret := createTokenCLI(t, dir, "beside", "MANAGE")
	req, _ := http.NewRequest("GET", url+"/tokens", nil)
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("token created beside the server: /tokens %d", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Fatalf("the first serve exited %d", code)
	}
}

// TestReadmeDocumentsEverySetting keeps README.md's configuration table true:
// every setting `vaspd serve` accepts has a row naming it and its variable,
// with the default `vaspd serve --help` prints (a duration may be written
// short: `10m` for 10m0s; a setting with no default value shows none, only
// words such as "—" or "from `listen`"), and every row names a setting.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skip("README.md not found beside the module: ", err)
	}
	var cfg daemon.Config
	set := &config.Set{}
	cfg.Declare(set)
	for _, s := range set.Settings() {
		row := fmt.Sprintf("| `%s` | `%s` |", s.Name, s.Env())
		i := bytes.Index(readme, []byte(row))
		if i < 0 {
			t.Errorf("README.md has no configuration row %q", row)
			continue
		}
		rest := string(readme[i+len(row):])
		cell, _, _ := strings.Cut(rest, " | ")
		cell = strings.TrimSpace(cell)
		if s.Default == "" {
			if strings.HasPrefix(cell, "`") {
				t.Errorf("README.md: %s has no default value, the table shows %s", s.Name, cell)
			}
			continue
		}
		shown := ""
		if strings.HasPrefix(cell, "`") {
			shown, _, _ = strings.Cut(cell[1:], "`")
		}
		if !sameDefault(shown, s.Default) {
			t.Errorf("README.md: %s defaults to %q, the table shows %s", s.Name, s.Default, cell)
		}
	}
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `") || !strings.Contains(line, "` | `VASPD_") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
		if set.Lookup(name) == nil {
			t.Errorf("README.md documents a setting %q that vaspd serve does not have", name)
		}
	}
}

// sameDefault reports whether the README's default shown stands for the
// setting's default def: the same text, or the same duration.
func sameDefault(shown, def string) bool {
	if shown == def {
		return true
	}
	a, errA := time.ParseDuration(shown)
	b, errB := time.ParseDuration(def)
	return errA == nil && errB == nil && a == b
}

// createTokenCLI runs `vaspd token create` on data directory dir and
// returns the new token's credentials.
func createTokenCLI(t *testing.T, dir, name, perms string) (id, secret string) {
	t.Helper()
	code, out, errs := runCmd("token", "create", "--data-dir", dir, "--name", name, "--permissions", perms)
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "clientId:" {
			id = f[1]
		} else if len(f) == 2 && f[0] == "clientSecret:" {
			secret = f[1]
		}
	}
	return id, secret
}

// A stray argument is refused, not ignored: `vaspd demo dir ./keep` (the
// dashes forgotten) would otherwise run in a temporary directory and
// remove it, losing what the operator meant to keep.
func TestStrayArgumentsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"demo", "dir", "./keep"}, {"version", "extra"}} {
		code, out, errs := runCmd(args...)
		if code != 2 || !strings.Contains(errs, "unexpected argument") || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and unexpected argument", args, code, out, errs)
		}
	}
}

// An error is one line on stderr, as the README promises, even when a
// driver's message spans several (pgx lists every address it tried on its
// own line) or a stop adds its own error.
func TestErrorIsOneLine(t *testing.T) {
	code, _, errs := runCmd("serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "error",
		"--database-url", "postgres://vaspd:s3cret@127.0.0.1:1/vaspd", "--db-retry-timeout", "1ms")
	if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 ||
		!strings.HasPrefix(errs, "vaspd serve: setting database-url") || strings.Contains(errs, "s3cret") {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line naming database-url", code, errs)
	}
}

// A database URL given as an argument, its --database-url forgotten, is
// refused without echoing its password: stderr goes to journals and
// terminals' scrollback, where the rest of vaspd never writes one.
func TestStrayArgumentIsNotEchoedWithItsPassword(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "postgres://vaspd:s3cret@db.example.com/vaspd"},
		{"config", "show", "--data-dir", t.TempDir(), "postgres://vaspd:s3cret@db.example.com/vaspd"},
		{"token", "list", "host=db password=s3cret"},
	} {
		code, out, errs := runCmd(args...)
		if code != 2 || !strings.Contains(errs, "unexpected argument") || strings.Contains(out+errs, "s3cret") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, unexpected argument and no password", args, code, out, errs)
		}
	}
}

// A flag given without its value, the next argument being another flag,
// is refused as such: the flag package would take that flag, and a
// database URL written after it, for the value, and echo them (password
// and all) in an error, or keep them (--domain would be
// "--database-url=…") and run without the database asked for.
func TestFlagWithoutValueIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"config", "show", "--data-dir", dir, "--listen", "--database-url=postgres://vaspd:s3cret@db.example.com/vaspd"},
		{"config", "show", "--data-dir", dir, "--metrics-public", "--database-url=postgres://vaspd:s3cret@db.example.com/vaspd"},
		{"config", "show", "--data-dir", dir, "--shutdown-timeout", "--devnet-secret", "s3cret"},
		{"config", "show", "--data-dir", dir, "--api-trusted-origins", "--devnet-secret=s3cret"},
		{"token", "list", "--data-dir", dir, "--domain", "-database-url=sqlite:/elsewhere/vaspd.db"},
		{"backup", "--data-dir", dir, "--to", "--force"}, // wrote the backup to a file named --force
	} {
		code, out, errs := runCmd(args...)
		if code != 2 || !strings.Contains(errs, "needs a value") || strings.Contains(out+errs, "s3cret") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, needs a value and no secret", args, code, out, errs)
		}
	}
	// A value that starts with "-" but names no flag is still a value.
	if code, out, errs := runCmd("config", "show", "--data-dir", dir, "--log-level", "-x"); code != 1 || !strings.Contains(errs, `got "-x"`) {
		t.Errorf("--log-level -x: exit %d, stdout %q, stderr %q; want log-level's own error", code, out, errs)
	}
}

// The error line on stderr goes to a terminal: a control character in it
// (an escape sequence, a C1 control, a bidi override, from a file name or
// a value read from the database) is written escaped, as Go quotes it,
// never raw, where it would recolour, move or reorder what the operator
// reads.
func TestErrorLineEscapesControlCharacters(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rates\x1b[2J\u202egpj\u0085.yaml")
	code, out, errs := runCmd("config", "show", "--rates-file", file)
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "vaspd config: setting rates-file") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line naming rates-file", code, out, errs)
	}
	if strings.ContainsAny(errs, "\x1b\u202e\u0085") || !strings.Contains(errs, `rates\x1b[2J\u202egpj\u0085.yaml`) {
		t.Errorf("stderr %q; want the file's name with its control characters escaped", errs)
	}
	// An unknown flag, named by the flag package with the usage after it.
	code, out, errs = runCmd("token", "list", "--data-dir", t.TempDir(), "--\x1b[2Jx\u202e")
	if code != 2 || out != "" || strings.ContainsAny(errs, "\x1b\u202e") || !strings.Contains(errs, `-\x1b[2Jx\u202e`) {
		t.Errorf("an unknown flag: exit %d, stdout %q, stderr %q; want exit 2 and the flag's control characters escaped", code, out, errs)
	}
}

// A huge bad value (the config file may be 1 MiB) is not echoed whole:
// the setting's error quotes its start (config.QuoteValue), and any error
// line is cut at maxErrorLine bytes, saying so, rather than written to a
// terminal or a journal as a line of a megabyte.
func TestErrorLineIsCut(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vaspd.yaml")
	if err := os.WriteFile(file, []byte("listen: "+strings.Repeat("a", 500_000)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("config", "show", "--config", file)
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "vaspd config: setting listen: ") ||
		len(errs) > maxErrorLine+100 {
		t.Errorf("exit %d, stdout %q, %d bytes on stderr (%.200q…); want exit 1 and one line naming listen, cut", code, out, len(errs), errs)
	}
	if line := oneLine("x: " + strings.Repeat("a", 500_000)); len(line) > maxErrorLine+100 || !strings.Contains(line, "bytes more") {
		t.Errorf("an error of 500 000 bytes is a line of %d bytes (%.100q…), want it cut, saying so", len(line), line)
	}
}
