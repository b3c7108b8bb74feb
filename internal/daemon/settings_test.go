package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/internal/buildinfo"
)

// TestMetricsSetting: the daemon's /metrics needs a token unless
// metrics-public says otherwise.
func TestMetricsSetting(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	id, secret := credential(t, r.out.String())
	if st := get(t, r.url+"/metrics", "", ""); st != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d, want 401", st)
	}
	if st := get(t, r.url+"/metrics", id, secret); st != 200 {
		t.Fatalf("/metrics with the admin token: %d", st)
	}
	r2 := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), MetricsPublic: true})
	if st := get(t, r2.url+"/metrics", "", ""); st != 200 {
		t.Fatalf("/metrics with metrics-public: %d, want 200", st)
	}
	// The payment gauges are read from the database as vaspd starts.
	const open = `vaspd_payments_open{direction="OUTGOING",status="PROCESSING"} 0`
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(r2.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), open) {
			// The build is told as it starts: this test binary's.
			b := buildinfo.Read("")
			build := fmt.Sprintf(`vaspd_build_info{go_version=%q,revision=%q,version=%q} 1`, runtime.Version(), b.ShortRevision(), b.Version)
			if !strings.Contains(string(body), build) {
				t.Fatalf("/metrics has no %s:\n%s", build, body)
			}
			return
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", open, body)
}

// TestTrustedOriginsSetting: the daemon refuses a browser's cross-site
// POST to the platform API unless api-trusted-origins names its origin.
func TestTrustedOriginsSetting(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), TrustedOrigins: "https://dash.example.com"})
	id, secret := credential(t, r.out.String())
	post := func(origin string) int {
		req, _ := http.NewRequest("POST", r.url+"/tokens", strings.NewReader(`{"name":"x","permissions":["VIEW"]}`))
		req.SetBasicAuth(id, secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("https://dash.example.com"); st != http.StatusCreated {
		t.Fatalf("trusted origin: %d, want 201", st)
	}
	if st := post("https://evil.example"); st != http.StatusForbidden {
		t.Fatalf("other origin: %d, want 403", st)
	}
}

// TestAuthFailureLimitSetting: api-auth-failure-limit failed
// authentications are answered 401, then 429; 0 turns the limit off.
func TestAuthFailureLimitSetting(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), AuthFailures: 2})
	id, _ := credential(t, r.out.String())
	for i, want := range []int{401, 401, 429} {
		if st := get(t, r.url+"/tokens", id, "wrong"); st != want {
			t.Fatalf("failure %d: %d, want %d", i+1, st, want)
		}
	}
	off := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	id, _ = credential(t, off.out.String())
	for i := range 3 * api.DefaultAuthFailuresPerMinute {
		if st := get(t, off.url+"/tokens", id, "wrong"); st != 401 {
			t.Fatalf("failure %d without a limit: %d, want 401", i+1, st)
		}
	}
}

// TestDevnetOffAnswersErrorJSON: without a devnet secret the devnet is off,
// and its paths are answered as any unknown path is (the error JSON), not
// with net/http's text "404 page not found".
func TestDevnetOffAnswersErrorJSON(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	resp, err := http.Get(r.url + "/devnet/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 404 || body["code"] != "NOT_FOUND" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("devnet off: %d %s %v (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
	}
}

// The data directory holds only the default SQLite database: with
// database-url set (PostgreSQL, or sqlite:PATH) vaspd neither creates nor
// needs it, so a read-only working directory (a container's) does not stop
// it, and the README's PostgreSQL example leaves no empty ./vaspd-data.
func TestDatabaseURLLeavesDataDirAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, _, errc := startLogged(t, Config{DataDir: filepath.Join(notADir, "data"), DatabaseURL: "sqlite:" + filepath.Join(dir, "x.db")})
	waitUp(t, d, errc)
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err != nil {
		t.Fatalf("database not at its sqlite: path: %v", err)
	}
}

// TestWebhookEndpointEventTypes: vaspd's endpoints may subscribe to each
// webhook type it sends, and a misspelt one is refused instead of matching
// nothing.
func TestWebhookEndpointEventTypes(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	id, secret := credential(t, r.out.String())
	create := func(types string) int {
		req, _ := http.NewRequest("POST", r.url+"/webhooks/endpoints",
			strings.NewReader(`{"url":"https://platform.example/hook","eventTypes":`+types+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := create(`["INCOMING_PAYMNT"]`); st != 400 {
		t.Fatalf("misspelt type: %d, want 400", st)
	}
	all, _ := json.Marshal(EventTypes)
	if st := create(string(all)); st != 201 {
		t.Fatalf("every type vaspd sends: %d, want 201", st)
	}
	for _, typ := range []string{"INCOMING_PAYMENT", "OUTGOING_PAYMENT", "TEST", "BULK_UPLOAD", "INVITATION_CLAIMED", "UMA_REQUEST"} {
		if !slices.Contains(EventTypes, typ) {
			t.Errorf("%s missing", typ)
		}
	}
}

// TestWebhookMaxEndpointsSetting: webhook-max-endpoints caps the live
// endpoints; one more is a 409 CONFLICT error JSON saying so, and a
// deleted endpoint frees its place.
func TestWebhookMaxEndpointsSetting(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data"), Webhooks: WebhookConfig{MaxEndpoints: 1}})
	id, secret := credential(t, r.out.String())
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, r.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	const hook = `{"url":"https://platform.example/hook"}`
	st, first := do("POST", "/webhooks/endpoints", hook)
	if st != 201 {
		t.Fatalf("first endpoint: %d %v", st, first)
	}
	st, m := do("POST", "/webhooks/endpoints", hook)
	if msg, _ := m["message"].(string); st != 409 || m["code"] != "CONFLICT" || !strings.Contains(msg, "webhook-max-endpoints") ||
		m["details"].(map[string]any)["maxEndpoints"] != float64(1) {
		t.Fatalf("one over webhook-max-endpoints: %d %v", st, m)
	}
	if st, m := do("DELETE", "/webhooks/endpoints/"+first["id"].(string), ""); st/100 != 2 {
		t.Fatalf("delete: %d %v", st, m)
	}
	if st, m := do("POST", "/webhooks/endpoints", hook); st != 201 {
		t.Fatalf("after a delete: %d %v", st, m)
	}
}

// Listening on port 0 with no domain set (a quick trial, a test): the
// domain and base URL take the port the listener got, not 0, which no
// counterparty can reach and which made every URL vaspd built invalid
// (a platform lookup answered 500).
func TestDomainTakesTheBoundPort(t *testing.T) {
	r := start(t, Config{DataDir: t.TempDir(), DatabaseURL: ""})
	port := r.d.Addr().(*net.TCPAddr).Port
	want := fmt.Sprintf("localhost:%d", port)
	if !strings.Contains(r.out.String(), "UMA domain: "+want+" ") || !strings.Contains(r.out.String(), "public base URL: http://"+want) {
		t.Errorf("banner %q does not name %s", r.out.String(), want)
	}
	resp, err := http.Get(r.url + "/.well-known/uma-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "http://"+want+"/") {
		t.Errorf("uma-configuration %s does not use %s", body, want)
	}
	// A domain or base URL set explicitly is kept as set, port 0 or not.
	cfg := Config{DataDir: "d", Listen: "127.0.0.1:0", Domain: "pay.example.com", LogFormat: "auto", LogLevel: "info"}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.ln.Close()
	if d.cfg.Domain != "pay.example.com" || d.cfg.BaseURL != "https://pay.example.com" {
		t.Errorf("explicit domain became %s, %s", d.cfg.Domain, d.cfg.BaseURL)
	}
}
