package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store/storetest"
)

// A body sent with a content coding is refused (415): vaspd decodes none,
// and read a "gzip" body's bytes as the JSON itself. So is a request with
// several Idempotency-Key headers (400): which one it retries cannot be
// told, and nothing is created.
func TestContentEncodingAndIdempotencyKeyOnce(t *testing.T) {
	f := newUserFixture(t, storetest.SQLite(t))
	send := func(body string, header http.Header) (int, map[string]any) {
		t.Helper()
		r, _ := http.NewRequest("POST", f.srv.URL+"/users", strings.NewReader(body))
		r.SetBasicAuth(f.admin.ClientID, f.admin.ClientSecret)
		r.Header.Set("Content-Type", "application/json")
		for k, vs := range header {
			r.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	for _, enc := range []string{"gzip", "identity, br", "x-custom"} {
		st, m := send(userAliceJSON, http.Header{"Content-Encoding": {enc}})
		wantError(t, st, m, 415, vaspd.CodeUnsupportedMediaType)
	}
	st, m := send(userAliceJSON, http.Header{"Idempotency-Key": {"k-1", "k-2"}})
	wantError(t, st, m, 400, vaspd.CodeInvalidInput)
	if st, m, _ := f.req(t, "GET", "/users", &f.admin, ""); st != 200 || len(m["data"].([]any)) != 0 {
		t.Fatalf("users after the refusals: %d %v, want none", st, m)
	}
	if st, m := send(userAliceJSON, http.Header{"Content-Encoding": {"identity"}, "Idempotency-Key": {"k-1"}}); st != 201 {
		t.Fatalf("identity coding, one key: %d %v, want 201", st, m)
	}
}
