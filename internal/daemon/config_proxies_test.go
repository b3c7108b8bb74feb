package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// api-trusted-proxies entries are IP addresses or CIDR networks: one that
// is neither, a network with host bits set (which of the two was meant?)
// or an empty entry (a stray comma) stops vaspd, naming the setting and the
// entry, rather than trusting something else or nothing without a word.
func TestTrustedProxiesAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, bad := range []struct{ value, entry string }{
		{"proxy.example.com", `"proxy.example.com"`},
		{"10.0.0.1/8", `"10.0.0.1/8"`},
		{"10.0.0.0/33", `"10.0.0.0/33"`},
		{"10.0.0.1:80", `"10.0.0.1:80"`},
		{"fe80::1%eth0", `"fe80::1%eth0"`},
		{"10.0.0.0/8, *", `"*"`},
		{"10.0.0.0/8,", `""`},
		{" , ", `""`},
	} {
		c := baseConfig()
		c.TrustedProxies = bad.value
		resolveErr(t, c, "setting api-trusted-proxies: "+bad.entry, "")
	}
	c := baseConfig()
	c.TrustedProxies = " 10.0.0.0/8 , 192.0.2.7,2001:DB8::/32, ::ffff:172.16.0.1 "
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.trustedProxies); got != "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32 172.16.0.1/32]" {
		t.Fatalf("trusted proxies %s", got)
	}
	for _, none := range []string{"", "  "} {
		c := baseConfig()
		c.TrustedProxies = none
		if err := c.Resolve(); err != nil || c.trustedProxies != nil {
			t.Fatalf("%q: %v, %v; want no proxies", none, err, c.trustedProxies)
		}
	}
}

// The setting is read from its environment variable and from the YAML
// file under the flag's name, a YAML list as its items joined by commas.
func TestTrustedProxiesFromEnvAndFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "vaspd.yaml")
	if err := os.WriteFile(file, []byte("api-trusted-proxies:\n  - 10.0.0.0/8\n  - 2001:db8::/32\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args []string, env map[string]string) string {
		t.Helper()
		return parseConfig(t, args, env).TrustedProxies
	}
	if got := load([]string{"--config", file}, nil); strings.ReplaceAll(got, " ", "") != "10.0.0.0/8,2001:db8::/32" {
		t.Fatalf("from the file: %q", got)
	}
	if got := load(nil, map[string]string{"VASPD_API_TRUSTED_PROXIES": "192.0.2.7"}); got != "192.0.2.7" {
		t.Fatalf("from the environment: %q", got)
	}
	if got := load(nil, nil); got != "" {
		t.Fatalf("default: %q", got)
	}
}

// TestTrustedProxiesSetting: behind a proxy vaspd serve trusts, a client
// that fails to authenticate is throttled by the address X-Forwarded-For
// names, not the proxy's, so the proxy's other clients are not.
func TestTrustedProxiesSetting(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), AuthFailures: 2, TrustedProxies: "127.0.0.0/8"})
	id, secret := credential(t, r.out.String())
	as := func(client, secret string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", r.url+"/tokens", nil)
		req.SetBasicAuth(id, secret)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, want := range []int{401, 401, 429} {
		if st := as("198.51.100.1", "wrong"); st != want {
			t.Fatalf("client A's failure %d: %d, want %d", i+1, st, want)
		}
	}
	if st := as("198.51.100.2", secret); st != 200 {
		t.Fatalf("client B behind the same proxy: %d, want 200", st)
	}
}

// An api-trusted-proxies entry with no prefix bits (0.0.0.0/0, ::/0, or
// the IPv4-mapped ::ffff:0.0.0.0/96) trusts every peer, so every client
// chooses its own address through X-Forwarded-For: it is accepted (a
// deployment reachable only through its proxies' network may mean it) but
// warned about in one line naming the setting and the entries as written.
// A narrower network is not warned about.
func TestTrustingEveryAddressIsWarnedAbout(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ value, entry string }{
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"::/0", "::/0"},
		{"10.0.0.0/8, ::ffff:0.0.0.0/96", "::ffff:0.0.0.0/96"},
		{" 0.0.0.0/0 ,10.0.0.0/8, ::/0", "0.0.0.0/0, ::/0"},
		{"10.0.0.0/8, 2001:db8::/32, 0.0.0.0/1, 192.0.2.7", ""},
		{"", ""},
	} {
		cfg := baseConfig()
		cfg.TrustedProxies = c.value
		if err := cfg.Resolve(); err != nil {
			t.Fatalf("%q: %v", c.value, err)
		}
		var buf bytes.Buffer
		warnTrustedProxies(cfg, slog.New(slog.NewJSONHandler(&buf, nil)))
		logs := buf.String()
		if c.entry == "" {
			if logs != "" {
				t.Errorf("%q is warned about:\n%s", c.value, logs)
			}
			continue
		}
		for _, want := range []string{`"level":"WARN"`, `"setting":"api-trusted-proxies"`, `"entry":"` + c.entry + `"`, "X-Forwarded-For"} {
			if !strings.Contains(logs, want) {
				t.Errorf("%q: the warning does not mention %s:\n%s", c.value, want, logs)
			}
		}
		if n := strings.Count(logs, "\n"); n != 1 {
			t.Errorf("%q: want one warning, got %d lines:\n%s", c.value, n, logs)
		}
	}
}

// vaspd serve starts with api-trusted-proxies 0.0.0.0/0 and says so once.
func TestServeWarnsOfTrustingEveryAddress(t *testing.T) {
	t.Parallel()
	d, log, errc := startLogged(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), TrustedProxies: "0.0.0.0/0"})
	waitUp(t, d, errc)
	if n := strings.Count(log.String(), `"setting":"api-trusted-proxies"`); n != 1 {
		t.Fatalf("%d warnings naming api-trusted-proxies, want 1:\n%s", n, log.String())
	}
}
