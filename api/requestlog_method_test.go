package api_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestRequestLogBoundsMethod: the "http request" log line quotes a
// request's method at most 20 bytes of it long, as the 405 it is answered
// quotes it: net/http takes any token as a method, up to the request
// line's limit (1 MiB), and the line quoted it whole, so an
// unauthenticated client wrote a megabyte into the log per request.
func TestRequestLogBoundsMethod(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs lockedBuffer
		f := newFixtureOpts(t, db, func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) }, nil, nil)
		method := strings.Repeat("M", 100_000)
		f.send(t, method, "/tokens", nil, "", "", "X-Request-Id", "long-method")
		found := false
		for line := range strings.Lines(logs.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %.200q: %v", line, err)
			}
			if m["msg"] == "http request" && m["request_id"] == "long-method" {
				found = true
				if got, _ := m["method"].(string); len(got) > 32 || !strings.HasPrefix(got, "MMMM") {
					t.Errorf("method logged as %d bytes (%.40q…), want its start, at most 32", len(got), got)
				}
			}
		}
		if !found {
			t.Fatal("no http request line for the request")
		}
	})
}
