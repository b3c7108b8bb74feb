package vasp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// Compliance is where a VASP's rules plug into the flows. Every method is
// called on the path of a payment, so it must answer fast; an error stops
// the payment with a clear UMA error (COUNTERPARTY_NOT_ALLOWED) to the
// counterparty or a 403 to the platform. DomainPolicy is the default.
type Compliance interface {
	// CounterpartyAllowed is asked before we answer or call the VASP at
	// domain, and about the host (host[:port]) of each URL a counterparty
	// gives us to call: its lnurlp callback, a utxoCallback, an
	// uma_request_endpoint.
	CounterpartyAllowed(ctx context.Context, domain string) error
	// ScreenPayment pre-screens the counterparty's node and channel UTXOs
	// before we accept a payment (direction Incoming) or pay (Outgoing).
	// Outgoing, nodePubKey is the node the receiver's invoice pays, in
	// lower-case hex as the invoice names it (not the receiver's own
	// optional, free-case nodePubKey).
	ScreenPayment(ctx context.Context, direction, domain, nodePubKey string, utxos []string) error
	// TravelRuleInfo is the sender's travel-rule data about our user, sent
	// encrypted to the receiver; format is e.g. "IVMS@101.2023", or "" for
	// plain JSON.
	TravelRuleInfo(ctx context.Context, sender Recipient, senderAddress, receiver string) (info []byte, format string, err error)
	// RegisterTransaction is told about every completed payment, after it
	// is committed (e.g. to report it); errors are the implementation's to
	// retry, the payment is final.
	//
	// It is told at least once, not exactly once: the registration owed
	// is recorded with the completion, and one that a crash (or a
	// shutdown) kept from returning, or from being recorded as made, is
	// made again by the next Run, in this process or another sharing the
	// database, a minute or more after the payment completed. So it may
	// be called more than once for one transaction, possibly by two
	// processes at once should a call outlast that minute, and must be
	// idempotent, keyed by the transaction's ID. A call whose ctx ends
	// before it returns counts as not made.
	RegisterTransaction(ctx context.Context, t Transaction)
}

// DomainPolicy is the default Compliance: counterparty domains are checked
// against an allow list (empty = everyone) and a deny list, nodes and
// UTXOs are not screened, the travel-rule data is the sender's name and
// address, and completed payments are only logged by the flows.
type DomainPolicy struct {
	Allow []string // domains (host[:port]), matched as uma.NormalizeDomain; empty allows all not denied
	Deny  []string
}

var _ Compliance = DomainPolicy{}

// splitDomain splits host[:port] into the host and ":port" ("" if none).
func splitDomain(d string) (host, port string) {
	if i := strings.LastIndexByte(d, ':'); i >= 0 {
		return d[:i], d[i:]
	}
	return d, ""
}

// matchDomain reports whether list names domain, each in its normal form
// (uma.NormalizeDomain: so that a denied VASP cannot get through by
// writing its domain another way). An entry with a port
// names that server; one without names the host on any port, so that a
// denied VASP cannot get through by writing a port (x.com:8443 is another
// server of the same operator, at the same host).
func matchDomain(list []string, domain string) bool {
	host, port := splitDomain(uma.NormalizeDomain(domain))
	for _, d := range list {
		h, p := splitDomain(uma.NormalizeDomain(d))
		if h == host && (p == "" || p == port) {
			return true
		}
	}
	return false
}

// CounterpartyAllowed applies the lists.
func (p DomainPolicy) CounterpartyAllowed(_ context.Context, domain string) error {
	if matchDomain(p.Deny, domain) || (len(p.Allow) > 0 && !matchDomain(p.Allow, domain)) {
		return uma.Errorf(uma.CodeCounterpartyNotAllowed, "this VASP does not transact with %s", vaspd.Truncate(domain, 100))
	}
	return nil
}

// ScreenPayment accepts every node and UTXO.
func (DomainPolicy) ScreenPayment(context.Context, string, string, string, []string) error {
	return nil
}

// TravelRuleInfo is a minimal originator record.
func (DomainPolicy) TravelRuleInfo(_ context.Context, sender Recipient, senderAddress, _ string) ([]byte, string, error) {
	b, err := json.Marshal(map[string]any{"originator": map[string]any{"name": sender.Name, "identifier": senderAddress}})
	if err != nil {
		return nil, "", fmt.Errorf("travel-rule info: %w", err)
	}
	return b, "", nil
}

// RegisterTransaction does nothing; the flows log every completed payment.
func (DomainPolicy) RegisterTransaction(context.Context, Transaction) {}
