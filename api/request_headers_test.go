package api_test

import (
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
	for _, enc := range []string{"gzip", "identity, br", "x-custom"} {
		st, m, _ := f.req(t, "POST", "/users", &f.admin, userAliceJSON, "Content-Encoding", enc)
		wantError(t, st, m, 415, vaspd.CodeUnsupportedMediaType)
	}
	st, m, _ := f.req(t, "POST", "/users", &f.admin, userAliceJSON, "Idempotency-Key", "k-1", "Idempotency-Key", "k-2")
	wantError(t, st, m, 400, vaspd.CodeInvalidInput)
	if st, m, _ := f.req(t, "GET", "/users", &f.admin, ""); st != 200 || len(m["data"].([]any)) != 0 {
		t.Fatalf("users after the refusals: %d %v, want none", st, m)
	}
	if st, m, _ := f.req(t, "POST", "/users", &f.admin, userAliceJSON, "Content-Encoding", "identity", "Idempotency-Key", "k-1"); st != 201 {
		t.Fatalf("identity coding, one key: %d %v, want 201", st, m)
	}
}
