package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vaspd/vaspd"
)

// captured is a slog.Handler keeping every record, its attributes as
// strings by key.
type captured struct {
	mu      sync.Mutex
	records []map[string]string
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *captured) WithGroup(string) slog.Handler            { return c }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = fmt.Sprint(a.Value.Any())
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, m)
	return nil
}

// TestUMAFailureLogKeepsNamesOut: the "UMA request failed" line of an
// internal error on a UMA endpoint naming a user logs the route pattern
// and the path with the name redacted, as the request line does (logPath),
// and the request id; it logged the path as sent, the user's UMA name in
// it.
func TestUMAFailureLogKeepsNamesOut(t *testing.T) {
	var logs captured
	h := &umaHandlers{log: slog.New(&logs)}
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, r *http.Request) { h.umaError(w, r, errors.New("the database is down")) }
	mux.HandleFunc("GET /.well-known/lnurlp/{user}", fail)
	mux.HandleFunc("POST /api/uma/payreq/{user}", fail)
	for _, c := range []struct{ method, path, route, logged string }{
		{"GET", "/.well-known/lnurlp/zelda-private", "GET /.well-known/lnurlp/{user}", "/.well-known/lnurlp/{user}"},
		{"POST", "/api/uma/payreq/zelda-private", "POST /api/uma/payreq/{user}", "/api/uma/payreq/{user}"},
	} {
		logs.records = nil
		req := httptest.NewRequest(c.method, c.path, nil)
		req = req.WithContext(context.WithValue(req.Context(), requestIDKey, "req-1"))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusInternalServerError || len(logs.records) != 1 {
			t.Fatalf("%s %s: %d, logged %v", c.method, c.path, w.Code, logs.records)
		}
		rec := logs.records[0]
		if rec["msg"] != "UMA request failed" || rec["path"] != c.logged || rec["route"] != c.route || rec["request_id"] != "req-1" {
			t.Errorf("%s %s: logged %v", c.method, c.path, rec)
		}
		for k, v := range rec {
			if strings.Contains(v, "zelda") {
				t.Errorf("%s %s: the user's name is in the log's %s: %q", c.method, c.path, k, v)
			}
		}
	}
}

// TestLogPath: under a personal path all that follows the prefix is one
// placeholder, in any case and however the path is spelt; other paths
// are as sent.
func TestLogPath(t *testing.T) {
	for in, want := range map[string]string{
		"/.well-known/lnurlp/bob":          "/.well-known/lnurlp/{user}",
		"/.well-known/lnurlp/bob/x/y":      "/.well-known/lnurlp/{user}",
		"/.WELL-KNOWN/lnurlp/bob":          "/.WELL-KNOWN/lnurlp/{user}",
		"/a/../.well-known/./lnurlp//bob/": "/.well-known/lnurlp/{user}",
		"/api/uma/payreq/$bob":             "/api/uma/payreq/{user}",
		"/receiver/$bob@example.com":       "/receiver/{receiver}",
		"/receiver/":                       "/receiver/",
		"/api/uma/payreq/":                 "/api/uma/payreq/",
		"/.well-known/lnurlpubkey":         "/.well-known/lnurlpubkey",
		"/users/User:1":                    "/users/User:1",
		"/receivers/x":                     "/receivers/x",
		// Dot segments after the name: cleaned, the prefix would go.
		"/.well-known/lnurlp/alice/..":                    "/.well-known/lnurlp/{user}",
		"/receiver/$secretperson@other.example/../..":     "/receiver/{receiver}",
		"/invitations/2b158e7872ff/..":                    "/invitations/{code}",
		"/x/../invitations/2b158e7872ff/../../../etc":     "/x/../invitations/{code}",
		"/i/2b158e7872ff":                                 "/i/{code}",
		"/I/2b158e7872ff/..":                              "/I/{code}",
		"/\u0130/receiver/x":                              "/\u0130/receiver/{receiver}",
		"/api/uma/payreq/bob/" + strings.Repeat("a", 300): "/api/uma/payreq/{user}",
		"/i/":                          "/i/",
		"":                             "",
		"/" + strings.Repeat("a", 300): vaspd.Truncate("/"+strings.Repeat("a", 300), 200),
	} {
		if got := logPath(in); got != want {
			t.Errorf("logPath(%q) = %q, want %q", in, got, want)
		}
	}
}
