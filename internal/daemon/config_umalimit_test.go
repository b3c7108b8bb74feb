package daemon

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/vaspd/vaspd/api"
)

// uma-rate-limit is a count a second: negative, or so large that a second
// divided by it is next to nothing, is refused, naming the setting.
func TestUMARateLimitIsChecked(t *testing.T) {
	t.Parallel()
	for _, bad := range []int{-1, maxUMARateLimit + 1} {
		c := baseConfig()
		c.UMARateLimit = bad
		resolveErr(t, c, "setting uma-rate-limit", "")
	}
	for _, good := range []int{0, 1, api.DefaultUMARequestsPerSecond, maxUMARateLimit} {
		c := baseConfig()
		c.UMARateLimit = good
		if err := c.Resolve(); err != nil {
			t.Errorf("%d: %v", good, err)
		}
	}
}

// vaspd serve limits UMA requests by default (api's default), and takes
// the setting from its flag and environment variable.
func TestUMARateLimitDefault(t *testing.T) {
	t.Parallel()
	load := func(args []string, env map[string]string) int {
		t.Helper()
		return parseConfig(t, args, env).UMARateLimit
	}
	if got := load(nil, nil); got != api.DefaultUMARequestsPerSecond {
		t.Fatalf("default %d, want %d", got, api.DefaultUMARequestsPerSecond)
	}
	if got := load(nil, map[string]string{"VASPD_UMA_RATE_LIMIT": "0"}); got != 0 {
		t.Fatalf("from the environment: %d", got)
	}
	if got := load([]string{"--uma-rate-limit=7"}, map[string]string{"VASPD_UMA_RATE_LIMIT": "0"}); got != 7 {
		t.Fatalf("from the flag: %d", got)
	}
}

// TestUMARateLimitSetting: a client past uma-rate-limit's burst (twice the
// rate) is answered 429 on the UMA endpoints, the static documents still
// served; 0 turns the limit off.
func TestUMARateLimitSetting(t *testing.T) {
	t.Parallel()
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// 1 a second, a burst of 2 (on the real clock: the exact burst and
	// rate are api's tests, on a fake one). The first two pass; one of the
	// next ones is throttled, unless each took a second.
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), UMARateLimit: 1})
	for i := range 2 {
		if st := status(r.url + "/.well-known/lnurlp/nobody"); st != 404 {
			t.Fatalf("request %d of the burst: %d, want 404", i+1, st)
		}
	}
	for i := 0; status(r.url+"/.well-known/lnurlp/nobody") != 429; i++ {
		if i == 50 {
			t.Fatal("50 requests past the burst, none throttled")
		}
	}
	if st := status(r.url + "/.well-known/lnurlpubkey"); st != 200 {
		t.Fatalf("lnurlpubkey of a throttled client: %d, want 200", st)
	}
	off := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	for i := range 3 * 2 * api.DefaultUMARequestsPerSecond {
		if st := status(off.url + "/.well-known/lnurlp/nobody"); st != 404 {
			t.Fatalf("request %d without a limit: %d, want 404", i+1, st)
		}
	}
}
