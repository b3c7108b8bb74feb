package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/store/sqlite"
)

// unit is what the tests read of a systemd unit file: its ExecStart, its
// Environment= assignments and TimeoutStopSec.
type unit struct {
	name        string
	execStart   string
	env         map[string]string
	timeoutStop string
}

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{name: filepath.Base(path), env: map[string]string{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is no key=value", u.name, line)
		}
		switch k {
		case "ExecStart":
			u.execStart = v
		case "Environment":
			ek, ev, _ := strings.Cut(v, "=")
			u.env[ek] = ev
		case "TimeoutStopSec":
			u.timeoutStop = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSystemdUnits: the units in deploy/systemd are units systemd accepts
// (checked with systemd-analyze where it is installed), give vaspd serve
// longer than its shutdown-timeout to stop, and run vaspd commands that
// work: each timer's command line, with its unit's environment and a
// config file at the unit's path, runs against a real database.
func TestSystemdUnits(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "systemd")
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no units in %s: %v", dir, err)
	}
	t.Run("verify", func(t *testing.T) {
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed: the units' syntax is not checked")
		}
		// systemd-analyze also checks that each command exists: vaspd
		// is not installed here, so a copy runs /bin/true in its place.
		tmp := t.TempDir()
		var copies []string
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			c := filepath.Join(tmp, filepath.Base(p))
			if err := os.WriteFile(c, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/vaspd", "/bin/true")), 0o644); err != nil {
				t.Fatal(err)
			}
			copies = append(copies, c)
		}
		out, err := exec.Command(sa, append([]string{"verify"}, copies...)...).CombinedOutput()
		// Unknown keys and bad values are warnings with exit code 0:
		// any output at all is a finding.
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	})

	units := map[string]unit{}
	for _, p := range paths {
		if strings.HasSuffix(p, ".service") {
			u := readUnit(t, p)
			units[u.name] = u
		}
	}
	serve, ok := units["vaspd.service"]
	if !ok {
		t.Fatal("no vaspd.service")
	}
	stop, err := time.ParseDuration(serve.timeoutStop)
	if err != nil || stop < daemon.DefaultShutdownTimeout+5*time.Second {
		t.Errorf("vaspd.service: TimeoutStopSec=%s, want at least shutdown-timeout (%s) + 5s, or systemd kills a clean stop",
			serve.timeoutStop, daemon.DefaultShutdownTimeout)
	}

	// The state directory holds a database at this binary's migrations,
	// as vaspd serve leaves it.
	state, backups := t.TempDir(), t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(state, "vaspd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	cfg := filepath.Join(t.TempDir(), "vaspd.yaml")
	if err := os.WriteFile(cfg, []byte("log-format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	local := strings.NewReplacer("/etc/vaspd/vaspd.yaml", cfg, "/var/lib/vaspd", state, "/var/backups/vaspd", backups)
	stamp := regexp.MustCompile(`\$\(date -u \+[^)]*\)`)

	for _, name := range []string{"vaspd.service", "vaspd-ledger-check.service", "vaspd-backup.service"} {
		u, ok := units[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		t.Run(name, func(t *testing.T) {
			line := strings.NewReplacer("%%", "%", "$$", "$").Replace(u.execStart)
			if inner, ok := strings.CutPrefix(line, "/bin/sh -c '"); ok {
				line = strings.TrimPrefix(strings.TrimSuffix(inner, "'"), "exec ")
				line = stamp.ReplaceAllString(line, "2026-12-05T180000Z")
			}
			args := strings.Fields(local.Replace(line))
			if len(args) < 2 || args[0] != "/usr/local/bin/vaspd" {
				t.Fatalf("ExecStart=%s does not run /usr/local/bin/vaspd", u.execStart)
			}
			for k, v := range u.env {
				t.Setenv(k, local.Replace(v))
			}
			if args[1] == "serve" {
				// Serving here would hold a port: its flags are checked.
				code, out, _ := runCmd("serve", "-h")
				for _, a := range args[2:] {
					if strings.HasPrefix(a, "-") && !strings.Contains(out, "\n  "+strings.TrimPrefix(a, "-")+" ") {
						t.Errorf("vaspd serve has no flag %s", a)
					}
				}
				if code != 0 && code != 2 {
					t.Fatalf("serve -h: exit %d", code)
				}
				return
			}
			code, out, errs := runCmd(args[1:]...)
			if code != 0 {
				t.Fatalf("%s: exit %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, out, errs)
			}
			switch args[1] {
			case "ledger":
				var r struct {
					Consistent bool `json:"consistent"`
				}
				if err := json.Unmarshal([]byte(out), &r); err != nil || !r.Consistent {
					t.Fatalf("ledger check said %q (%v)", out, err)
				}
			case "backup":
				if _, err := os.Stat(filepath.Join(backups, "vaspd-2026-12-05T180000Z.db")); err != nil {
					t.Fatalf("backup: %v (stdout %q)", err, out)
				}
			}
		})
	}
}
