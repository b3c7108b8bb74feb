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
	for _, d := range []string{"denied.example", "DENIED.example", "denied.example.", "dotted.example", "dotted.example.", "upper.example", "port.example:8443", "port.example.:8443",
		// An entry without a port names the host on any port.
		"denied.example:443", "denied.example:8443", "denied.example.:1"} {
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
	// https's default port is no port at all: an entry tls.example:443 is
	// tls.example, the host on any port; and a counterparty writing :443
	// is matched by an entry for the host with no port.
	https := vasp.DomainPolicy{Deny: []string{"tls.example:443"}}
	for _, d := range []string{"tls.example", "tls.example:443", "tls.example:8443"} {
		if err := https.CounterpartyAllowed(ctx, d); err == nil {
			t.Errorf("deny list of tls.example:443 let %q through", d)
		}
	}
	if err := (vasp.DomainPolicy{Allow: []string{"friend.example"}}).CounterpartyAllowed(ctx, "friend.example:443"); err != nil {
		t.Errorf("allow list of friend.example refused friend.example:443: %v", err)
	}
}
