package api_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestRequestLogKeepsUMANamesOut: the "http request" log line of a
// request whose path carries a user's UMA name (/.well-known/lnurlp/{user},
// /api/uma/payreq/{user}, the catch-alls under them) or a counterparty's
// UMA address (GET /receiver/{receiver}) logs its path with that part
// redacted: the route pattern and the request id say the rest. Every such
// line logged the path as sent, the name in it (no UMA addresses in
// logs). Other paths are logged as they were.
func TestRequestLogKeepsUMANamesOut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs lockedBuffer
		f := newPayFixtureAPI(t, db, nil, nil, func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
		lnurlp := f.lnurlpPath(t, "bob", f.domain, f.keys.Signing, time.Now())
		for _, c := range []struct {
			id, method, path string
			wantPath         string // as logged
		}{
			{"lnurlp", "GET", lnurlp, "/.well-known/lnurlp/{user}"},
			{"lnurlp-dollar", "GET", "/.well-known/lnurlp/$bob", "/.well-known/lnurlp/{user}"},
			{"lnurlp-unknown", "GET", "/.well-known/lnurlp/zelda-private", "/.well-known/lnurlp/{user}"},
			{"lnurlp-extra", "GET", "/.well-known/lnurlp/zelda-private/more", "/.well-known/lnurlp/{user}"},
			{"lnurlp-case", "GET", "/.Well-Known/LNURLP/zelda-private", "/.Well-Known/LNURLP/{user}"},
			{"lnurlp-unclean", "GET", "/.well-known//lnurlp/zelda-private", "/.well-known/lnurlp/{user}"},
			{"lnurlp-escaped", "GET", "/.well-known/lnurlp/zelda%2Dprivate", "/.well-known/lnurlp/{user}"},
			{"payreq", "POST", "/api/uma/payreq/bob", "/api/uma/payreq/{user}"},
			{"payreq-get", "GET", "/api/uma/payreq/zelda-private?amount=1000", "/api/uma/payreq/{user}"},
			{"payreq-extra", "POST", "/api/uma/payreq/zelda-private/x", "/api/uma/payreq/{user}"},
			{"receiver", "GET", "/receiver/$zelda-private@other.example", "/receiver/{receiver}"},
			// Nothing personal: as sent.
			{"pubkey", "GET", "/.well-known/lnurlpubkey", "/.well-known/lnurlpubkey"},
			{"payreq-root", "GET", "/api/uma/payreq/", "/api/uma/payreq/"},
			{"quote", "GET", "/quotes/Quote:01a24de3-47f2-7657-9be3-9a9762d92845", "/quotes/Quote:01a24de3-47f2-7657-9be3-9a9762d92845"},
		} {
			body := ""
			if c.method == "POST" {
				body = "{}"
			}
			f.call(t, c.method, c.path, &f.admin, body, "X-Request-Id", c.id)
			line := requestLogLine(t, logs.String(), c.id)
			if line == nil {
				t.Fatalf("%s: no http request line:\n%s", c.id, logs.String())
			}
			if line["path"] != c.wantPath {
				t.Errorf("%s %s: logged path %v, want %s", c.method, c.path, line["path"], c.wantPath)
			}
		}
		for _, name := range []string{"bob", "zelda"} {
			if strings.Contains(logs.String(), name) {
				t.Errorf("%q is in the log:\n%s", name, logs.String())
			}
		}
	})
}

// requestLogLine is the "http request" line of request id in logs (JSON
// lines), or nil.
func requestLogLine(t *testing.T, logs, id string) map[string]any {
	t.Helper()
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "http request" && m["request_id"] == id {
			return m
		}
	}
	return nil
}
