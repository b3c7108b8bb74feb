package api_test

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestAuditHostileInput: an audited request whose path value and
// Idempotency-Key are long, hold NUL, invalid UTF-8 and escape sequences
// is served (refused as the route refuses it) and recorded, each field
// valid UTF-8 without NUL and bounded (256 bytes and an ellipsis), on
// both databases: PostgreSQL refuses NUL and invalid UTF-8 in text, so an
// event holding them raw would fail to be written, and the request be
// refused 503 for the trail's sake.
func TestAuditHostileInput(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		hostile := strings.Repeat("\x00\xff\x1b[31m\u202e", 2000)
		s := a.send(t, "DELETE", "/users/"+url.PathEscape(hostile), &a.admin, "", "Idempotency-Key", strings.Repeat("k\t", 4000))
		if s.status != 400 && s.status != 404 {
			t.Fatalf("DELETE /users/<hostile>: %d %v, want 400 or 404", s.status, s.body)
		}
		evs := a.events(t, "limit=100")
		var e map[string]any
		for _, ev := range evs {
			if ev["requestId"] == s.id {
				e = ev
			}
		}
		if e == nil {
			t.Fatal("no event for the request")
		}
		o, _ := e["outcome"].(map[string]any)
		if o == nil || o["status"] != float64(s.status) {
			t.Errorf("outcome %v, want %d", e["outcome"], s.status)
		}
		params, _ := e["pathParams"].(map[string]any)
		for name, v := range map[string]any{"resourceId": e["resourceId"], "idempotencyKey": e["idempotencyKey"], "pathParams.userId": params["userId"]} {
			str, _ := v.(string)
			if str == "" || len(str) > 256+len("…") || !utf8.ValidString(str) || strings.ContainsRune(str, 0) {
				t.Errorf("%s: %d bytes, %.60q; want 1 to 259 bytes of valid UTF-8 without NUL", name, len(str), str)
			}
		}
	})
}
