package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestWebhooksCLI drives "vaspd webhooks …" against a real API server.
func TestWebhooksCLI(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	tokens, err := auth.NewTokens(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := tokens.Create(ctx, "admin", vaspd.AllPermissions)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Tokens: tokens, Audit: audit.New(db, nil)})
	srv.MountWebhooks(svc)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer rc.Close()

	cli := func(args ...string) (map[string]any, error) {
		var out, errb bytes.Buffer
		err := runWebhooks(ctx, append(args, "--url", ts.URL), &out, &errb)
		var m map[string]any
		if err == nil && strings.HasPrefix(out.String(), "{") {
			if jerr := json.Unmarshal(out.Bytes(), &m); jerr != nil {
				t.Fatalf("%v: output is not JSON: %q", args, out.String())
			}
		}
		return m, err
	}

	if _, err := cli("endpoints", "list"); err == nil || !strings.Contains(err.Error(), "VASPD_CLIENT_ID") {
		t.Fatalf("without credentials: %v", err)
	}
	t.Setenv("VASPD_CLIENT_ID", admin.ClientID)
	t.Setenv("VASPD_CLIENT_SECRET", admin.ClientSecret)

	ep, err := cli("endpoints", "create", "--endpoint-url", rc.URL, "--event-types", "TEST,OUTGOING_PAYMENT", "--timeout", "3s")
	if err != nil || ep["secret"] == nil || ep["timeoutMs"] != float64(3000) {
		t.Fatalf("create: %v %v", ep, err)
	}
	id := ep["id"].(string)
	if got, err := cli("endpoints", "update", id, "--description", "mine", "--enabled=false"); err != nil || got["enabled"] != false || got["description"] != "mine" {
		t.Fatalf("update: %v %v", got, err)
	}
	if got, err := cli("endpoints", "get", id); err != nil || got["description"] != "mine" {
		t.Fatalf("get: %v %v", got, err)
	}
	// A grace the API's whole seconds cannot hold is refused, not cut
	// (500ms would be 0: the old secret stopping at once).
	for _, g := range []string{"500ms", "1.5s", "-1s"} {
		if _, err := cli("endpoints", "rotate-secret", id, "--grace", g); err == nil || !strings.Contains(err.Error(), "whole number of seconds") {
			t.Fatalf("rotate --grace %s: %v", g, err)
		}
	}
	if got, err := cli("endpoints", "rotate-secret", id, "--grace", "1h"); err != nil || got["secret"] == nil {
		t.Fatalf("rotate: %v %v", got, err)
	}
	if got, err := cli("endpoints", "list", "--limit", "5"); err != nil || len(got["data"].([]any)) != 1 {
		t.Fatalf("list: %v %v", got, err)
	}
	if _, err := cli("config", "set", "--webhook-endpoint", rc.URL); err != nil {
		t.Fatal(err)
	}
	if got, err := cli("test"); err != nil || got["response_status"] != float64(200) || got["response_body"] != "ok" {
		t.Fatalf("test: %v %v", got, err)
	}
	got, err := cli("deliveries", "list", "--status", "delivered")
	if err != nil || len(got["data"].([]any)) != 1 {
		t.Fatalf("deliveries: %v %v", got, err)
	}
	did := got["data"].([]any)[0].(map[string]any)["id"].(string)
	if got, err := cli("deliveries", "get", did); err != nil || len(got["attemptLog"].([]any)) != 1 {
		t.Fatalf("delivery: %v %v", got, err)
	}
	if got, err := cli("deliveries", "redeliver", did); err != nil || got["status"] != "pending" {
		t.Fatalf("redeliver: %v %v", got, err)
	}
	job, err := cli("replay", "--endpoint", id, "--since", "2020-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z")
	if err != nil || job["status"] != "pending" {
		t.Fatalf("replay: %v %v", job, err)
	}
	if got, err := cli("replay-status", job["id"].(string)); err != nil || got["kind"] != "replay" {
		t.Fatalf("replay-status: %v %v", got, err)
	}
	// The server's worker may have finished the job already (409).
	if got, err := cli("replay-cancel", job["id"].(string)); (err != nil || got["status"] != "canceled") &&
		(err == nil || !strings.Contains(err.Error(), "CONFLICT")) {
		t.Fatalf("replay-cancel: %v %v", got, err)
	}
	if got, err := cli("public-key"); err != nil || !strings.HasPrefix(got["publicKey"].(string), "whpk_") {
		t.Fatalf("public-key: %v %v", got, err)
	}
	if _, err := cli("endpoints", "delete", id); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("endpoints", "get", id); err == nil || !strings.Contains(err.Error(), "WEBHOOK_ENDPOINT_NOT_FOUND") {
		t.Fatalf("deleted: %v", err)
	}
	if _, err := cli("endpoints", "get"); err != errUsage {
		t.Fatalf("missing id: %v", err)
	}
	if _, err := cli("frobnicate"); err != errUsage {
		t.Fatalf("unknown command: %v", err)
	}
	if _, err := cli("endpoints", "update", id, "--enabled=maybe"); err == nil {
		t.Fatal("--enabled=maybe accepted")
	}
}

// A --url (or VASPD_URL) refused as malformed is echoed without its
// password, and a --request-timeout that is not positive is refused (0
// would wait forever, a negative one fail every request), exit 1 each.
func TestWebhooksCLIBadSettings(t *testing.T) {
	t.Setenv("VASPD_CLIENT_ID", "Token:x")
	t.Setenv("VASPD_CLIENT_SECRET", "secret")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks", "public-key", "--url", "ftp://admin:s3cret@vaspd.example.com"}, "--url"},
		{[]string{"webhooks", "public-key", "--url", "http://admin:s3cret@vaspd.example.com:99999999/"}, "--url"},
		{[]string{"webhooks", "public-key", "--request-timeout", "0s"}, "--request-timeout"},
		// The paths are appended to --url: a query or fragment would take
		// them in, the request going to the server's root, and be echoed
		// in the error.
		{[]string{"webhooks", "public-key", "--url", "http://127.0.0.1:1/?token=s3cret"}, "--url"},
		{[]string{"webhooks", "public-key", "--url", "http://127.0.0.1:1/#s3cret"}, "--url"},
		{[]string{"webhooks", "public-key", "--url", "http://127.0.0.1:1/vaspd?"}, "--url"},
		{[]string{"webhooks", "public-key", "--request-timeout", "-1s"}, "--request-timeout"},
	} {
		code, _, errs := runCmd(c.args...)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Contains(errs, "s3cret") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 naming %s without the password", c.args, code, errs, c.want)
		}
	}
}

// An unknown command is a usage error (exit 2) named as such, before the
// credentials are looked at: a mistyped command is not told to set
// VASPD_CLIENT_ID.
func TestWebhooksCLIUnknownCommand(t *testing.T) {
	t.Setenv("VASPD_CLIENT_ID", "")
	t.Setenv("VASPD_CLIENT_SECRET", "")
	for _, args := range [][]string{{"webhooks", "frob"}, {"webhooks", "endpoints", "frob"}, {"webhooks", "config", "show"}} {
		code, out, errs := runCmd(args...)
		if code != 2 || !strings.Contains(errs, "unknown command") || strings.Contains(errs, "set VASPD_CLIENT_ID") || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and unknown command", args, code, out, errs)
		}
	}
	for cmd := range webhookCommands {
		if !strings.Contains(webhooksUsage, "\n  "+cmd+" ") && !strings.Contains(webhooksUsage, "\n  "+cmd+"\n") {
			t.Errorf("the usage does not list %q", cmd)
		}
	}
}

// TestWebhooksCLITimeoutNotCut: the API counts an endpoint's timeout in
// whole milliseconds, 0 meaning the server's default. A --timeout it cannot
// hold was cut: "500us" went as 0 (the default, 10 s, not what was asked),
// "1.0005s" as 1 s. It is refused, as --grace's fractions are; nothing is
// sent (the receiver of the API calls would fail the test).
func TestWebhooksCLITimeoutNotCut(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("%s %s sent for a timeout the API cannot hold", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer api.Close()
	t.Setenv("VASPD_CLIENT_ID", "id")
	t.Setenv("VASPD_CLIENT_SECRET", "secret")
	for _, args := range [][]string{
		{"endpoints", "create", "--endpoint-url", "https://example.com/hook", "--timeout", "500us"},
		{"endpoints", "update", "WebhookEndpoint:x", "--timeout", "1.0005s"},
	} {
		var out, errb bytes.Buffer
		err := runWebhooks(context.Background(), append(args, "--url", api.URL), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "--timeout") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// A command's required flag left out is a usage error (exit 2) naming it,
// found before the credentials are looked at or anything is sent: `config
// set` without --webhook-endpoint exited 1 as a failure, and `endpoints
// create` without --endpoint-url and `replay` without --endpoint, --since
// or --until were sent, for the server to refuse.
func TestWebhooksCLIRequiredFlags(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("%s %s sent without a required flag", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer api.Close()
	t.Setenv("VASPD_CLIENT_ID", "")
	t.Setenv("VASPD_CLIENT_SECRET", "")
	since, until := "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "set"}, "--webhook-endpoint"},
		{[]string{"endpoints", "create", "--description", "d"}, "--endpoint-url"},
		{[]string{"replay", "--since", since, "--until", until}, "--endpoint"},
		{[]string{"replay", "--endpoint", "WebhookEndpoint:x", "--until", until}, "--since"},
		{[]string{"replay", "--endpoint", "WebhookEndpoint:x", "--since", since}, "--until"},
	} {
		args := append(append([]string{"webhooks"}, c.args...), "--url", api.URL)
		code, out, errs := runCmd(args...)
		if code != 2 || out != "" || !strings.Contains(errs, c.want+" is required") || strings.Contains(errs, "VASPD_CLIENT_ID") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %s is required", c.args, code, out, errs, c.want)
		}
	}
}
