package vasp

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Registering completed payments with the compliance hook
// (Compliance.RegisterTransaction), at least once. What is owed lives on
// the transaction row (register_state, migration 0460): a payment that
// reaches COMPLETED owes its registration from that very commit,
// whichever process made it. The process that completes a payment calls
// the hook right after the commit and marks it done; should it die in
// between (or its context end), the payment stays owed and the sweep
// below, in any process, registers it once registerLease has passed since
// it settled (the completing process's own claim; one stopped gracefully
// hands it back at once, register_next_at set). The sweep claims as
// the callback sender does (claim.go): a claim pushes register_next_at a
// lease ahead, so two processes do not register the same payment at once,
// and one that dies mid-call hands it on when the lease ends (one stopped
// gracefully hands its claimed rows back at once). Rows another
// claim holds locked just then (the callback sender's, on the same rows)
// are passed over to the next round, registerEvery later. A hook that
// outlives its lease, or a crash after the call but before the mark, has
// the payment registered again: hence "at least once", and the hook must
// be idempotent (by the transaction's ID). With the default DomainPolicy,
// whose hook does nothing, a payment completes registered: no call, and
// no second commit to mark it.

const (
	// registerLease is how long a registration is left to the process
	// that completed the payment, or that claimed it.
	registerLease = time.Minute
	// registerBatch is how many registrations one round claims.
	registerBatch = 100
	// registerEvery is how often the sweep looks for registrations owed.
	registerEvery = 15 * time.Second
)

// registerState is the register_state a payment is given as it
// completes: pending, unless the hook is the default DomainPolicy, whose
// RegisterTransaction does nothing. Telling it of a payment after the
// commit would only cost each payment a second commit (marking it done),
// so such a payment completes registered.
func (s *Service) registerState() string {
	if _, noop := s.opt.Compliance.(DomainPolicy); noop {
		return registerDone
	}
	return registerPending
}

// Registration states (register_state).
const (
	registerPending = "pending" // owed once the transaction is COMPLETED
	registerDone    = "done"
)

// registerCompleted registers t, which the caller just completed with
// register_state registerState().
func (s *Service) registerCompleted(ctx context.Context, t Transaction) {
	if s.registerState() != registerPending {
		return
	}
	s.register(ctx, t)
	if ctx.Err() != nil {
		// Stopping before the call, or during it (it has returned): hand
		// the completing process's claim back, so that the sweep of any
		// process registers the payment at once rather than registerLease
		// after it settled. Only a claim still ours (register_next_at 0:
		// no sweep claimed it since) is handed back; a register_next_at
		// above 0 lets the sweep take it whenever it settled.
		if err := releaseOwed(ctx, s.db, "register", s.clock.Now(), 0, t.ID); err != nil {
			s.log.Warn("compliance registration not handed back; the sweep makes it later", "transaction", t.ID, "err", err)
		}
	}
}

// register tells the compliance hook of t and marks it registered. A
// context ended before or during the call leaves it owed, to the sweep.
func (s *Service) register(ctx context.Context, t Transaction) {
	if ctx.Err() != nil {
		return
	}
	if _, noop := s.opt.Compliance.(DomainPolicy); !noop {
		// A payment completed by a process that could not decrypt its
		// travel-rule data (a key it was not given) and registered by
		// another, the sweep's, may be decrypted here: the hook gets it
		// in the clear when any of our keys opens it.
		_, _ = s.revealTravelRule(&t)
		s.opt.Compliance.RegisterTransaction(ctx, t)
		if ctx.Err() != nil {
			return
		}
	}
	s.markRegistered(ctx, t.ID)
}

// markRegistered records that t's registration was made; if that fails,
// the sweep registers it again.
func (s *Service) markRegistered(ctx context.Context, id string) {
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE uma_transactions SET register_state = $1
		WHERE id = $2 AND register_state = $3`, registerDone, id, registerPending); err != nil {
		s.log.Warn("record compliance registration; it will be made again", "transaction", id, "err", err)
	}
}

// registerOwed registers the completed payments left unregistered, at
// start and every registerEvery, until ctx ends.
func (s *Service) registerOwed(ctx context.Context) {
	for {
		n, err := s.registerRound(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("compliance registrations", "err", err)
		}
		if n == registerBatch && err == nil {
			continue // more may be owed
		}
		if !vaspd.Sleep(ctx, registerEvery) {
			return
		}
	}
}

// registerRound claims the registrations owed and makes them; it returns
// how many it claimed.
func (s *Service) registerRound(ctx context.Context) (int, error) {
	now := s.clock.Now()
	until := now.Add(registerLease)
	owed, err := claimOwed(ctx, s.db, owedClaim{work: "register", now: now, until: until, limit: registerBatch,
		// The completing process's own claim runs from settled_at, while
		// register_next_at is 0: a claim ended or handed back
		// (registerCompleted) sets it.
		and: "AND (COALESCE(settled_at, 0) <= $4 OR register_next_at > 0)", args: []any{store.Micros(now.Add(-registerLease))}},
		scanTransaction)
	if err != nil {
		return 0, fmt.Errorf("claim compliance registrations: %w", err)
	}
	for _, t := range owed {
		if ctx.Err() != nil {
			break // shutting down: handed back below
		}
		s.log.Info("registering a completed payment left unregistered", "transaction", t.ID)
		s.register(ctx, t)
	}
	if ctx.Err() != nil {
		// The hook call cut short has returned and no other will start:
		// hand back what is still owed rather than keep every process
		// off it for the rest of the lease.
		s.releaseRegistrations(ctx, owed, until)
	}
	return len(owed), nil
}

// releaseRegistrations makes the registrations of owed, claimed with the
// lease until, due now again: those still owed and still under that claim
// (one another process claimed since is left to it); see releaseOwed.
func (s *Service) releaseRegistrations(ctx context.Context, owed []Transaction, until time.Time) {
	ids := make([]string, len(owed))
	for i, t := range owed {
		ids[i] = t.ID
	}
	if err := releaseOwed(ctx, s.db, "register", s.clock.Now(), store.Micros(until), ids...); err != nil {
		s.log.Warn("compliance registrations not handed back; their lease will end", "n", len(owed), "err", err)
	}
}
