package vasp_test

import (
	"encoding/json"
	"testing"

	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/vasp"
)

// wantSpecTransaction checks transaction id as the platform API and the
// webhooks render it: failureReason is reason, and the whole conforms to
// the UMAaaS OpenAPI document when that is present (../shared).
func wantSpecTransaction(t *testing.T, s *vasp.Service, id, reason string) {
	t.Helper()
	tr, err := s.GetTransaction(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s.Render(t.Context(), tr))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ FailureReason string }
	if err := json.Unmarshal(b, &got); err != nil || got.FailureReason != reason {
		t.Fatalf("rendered failureReason %q (%v), want %q: %s", got.FailureReason, err, reason, b)
	}
	if spec := specschema.IfShared(t); spec != nil {
		if r := spec.CheckNamed("Transaction", b); !r.OK() {
			t.Fatalf("rendered transaction breaks the UMAaaS schema:\n%s\n%s", r, b)
		}
	}
}
