package embedded

import (
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// Faults are knobs for tests and demos that make outgoing payments
// misbehave. They live in this process's memory only: a restarted node
// starts without faults, which is how tests resolve held payments "after a
// restart".
type Faults struct {
	// FailReason makes new outgoing payments fail with this reason before
	// they reach the payee (their debit is returned).
	FailReason lightning.FailureReason
	// SettleDelay delays every delivery attempt by this long, so a Pay with
	// a shorter Timeout returns IN_FLIGHT and the payment settles later.
	SettleDelay time.Duration
	// HoldInFlight keeps outgoing payments IN_FLIGHT, undelivered, until
	// cleared (or until another process resolves them).
	HoldInFlight bool
}

// SetFaults replaces the node's fault knobs; the zero Faults clears them.
func (n *Node) SetFaults(f Faults) { n.faults.Store(&f) }
