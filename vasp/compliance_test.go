package vasp_test

import (
	"context"
	"testing"

	"github.com/vaspd/vaspd/vasp"
)

// The lists match a counterparty's domain whatever its case and with or
// without a trailing dot (x.com. is the same host as x.com: a denied VASP
// must not get through by writing its domain with one); a port is part
// of the domain.
func TestDomainPolicyMatching(t *testing.T) {
	ctx := context.Background()
	deny := vasp.DomainPolicy{Deny: []string{"denied.example", "dotted.example.", "Upper.Example", "port.example:8443"}}
	for _, d := range []string{"denied.example", "DENIED.example", "denied.example.", "dotted.example", "dotted.example.", "upper.example", "port.example:8443", "port.example.:8443"} {
		if err := deny.CounterpartyAllowed(ctx, d); err == nil {
			t.Errorf("deny list let %q through", d)
		}
	}
	for _, d := range []string{"other.example", "denied.example.com", "port.example", "port.example:8444", "denied.example.."} {
		if err := deny.CounterpartyAllowed(ctx, d); err != nil {
			t.Errorf("deny list refused %q: %v", d, err)
		}
	}
	allow := vasp.DomainPolicy{Allow: []string{"friend.example."}}
	for _, d := range []string{"friend.example", "Friend.Example."} {
		if err := allow.CounterpartyAllowed(ctx, d); err != nil {
			t.Errorf("allow list refused %q: %v", d, err)
		}
	}
	if err := allow.CounterpartyAllowed(ctx, "stranger.example"); err == nil {
		t.Error("allow list let stranger.example through")
	}
}
