package webhook

import (
	"slices"
	"testing"

	"github.com/vaspd/vaspd/internal/specschema"
)

// TestEnumsMatchSpec checks the enums encoded in this package against the
// UMAaaS OpenAPI document when it is present (../shared).
func TestEnumsMatchSpec(t *testing.T) {
	spec := specschema.Shared(t)
	for _, tc := range []struct {
		schema string
		ours   []string
	}{
		{"IncomingTransactionFailureReason", IncomingFailureReasons},
		{"OutgoingTransactionFailureReason", OutgoingFailureReasons},
		{"TransactionStatus", []string{string(StatusCreated), string(StatusPending), string(StatusProcessing),
			string(StatusCompleted), string(StatusRejected), string(StatusFailed), string(StatusRefunded), string(StatusExpired)}},
	} {
		want := spec.Enum(tc.schema, "")
		if len(want) == 0 || !slices.Equal(slices.Sorted(slices.Values(tc.ours)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s: ours %v, the specification's %v", tc.schema, tc.ours, want)
		}
	}
}
