package delivery

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"
)

// Forgetting endpoints. The worker keeps per-endpoint state in memory, by
// endpoint id: its last reading (url, timeout and signing secrets, with
// their parsed signer), streak, latency, claim depth, slow-start window.
// Nothing else removes an endpoint's entries, so without this a deleted
// endpoint's — secrets included — stayed for the process's life, and every
// endpoint ever used kept its reading, a rotated-out secret too.
//
// A deletion made here drops them when it commits (deleteEndpoint); one
// made by another process, and entries a result recorded after the
// deletion brought back, go at the next sweep (maintain, every
// sweepInterval), which also drops live endpoints idle for idleForget.
//
// An endpoint's reading goes at once whatever runs: an attempt in flight
// signs with the reading it was started with, not the map's. The rest stays
// while the worker is using it — attempts in flight, rows queued, failures
// not yet recorded (they keep the worker from claiming for the endpoint
// before its back-off commits) — and goes at a later sweep. What is
// dropped is what the worker has when it first meets an endpoint: window
// one, latency unknown, streak as the database's row says.
//
// The secrets are Go strings, which cannot be overwritten in place, and an
// attempt in flight may share the reading: dropping the last reference is
// what wiping them in memory can be.

// idleForget is how long a live endpoint the worker has not read (no
// claim, no handoff) is remembered. Forgetting it costs a slow start and
// one event sent by a claim instead of a handoff, after an hour idle.
const idleForget = time.Hour

// sweepInterval is how often maintain sweeps; sweepTimeout bounds one sweep.
const (
	sweepInterval = time.Minute
	sweepTimeout  = 10 * time.Second
)

// usingEndpoint reports whether the worker has work of endpoint id under
// way. Called with w.mu held.
func (w *worker) usingEndpoint(id string) bool {
	return w.busy[id] > 0 || len(w.queue[id]) > 0 || w.failing[id] > 0
}

// forget drops what this process holds about endpoints ids: the running
// worker's reading of each, and the rest of its state unless it is using
// it (usingEndpoint).
func (s *Service) forget(ids []string) {
	w := s.running.Load()
	if w != nil {
		// w.mu before s.winMu, as in pump and run: no attempt can end and
		// grow the window between the check and the delete.
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	s.winMu.Lock()
	defer s.winMu.Unlock()
	s.forgetLocked(w, ids)
}

// forgetLocked is forget with w.mu (w may be nil) and s.winMu held.
func (s *Service) forgetLocked(w *worker, ids []string) {
	for _, id := range ids {
		if w != nil {
			delete(w.seen, id)
			if w.usingEndpoint(id) {
				continue
			}
			delete(w.busy, id)
			delete(w.queue, id)
			delete(w.streak, id)
			delete(w.gens, id)
			delete(w.lat, id)
			delete(w.depth, id)
			delete(w.drained, id)
			delete(w.failing, id)
		}
		delete(s.win, id)
	}
}

// sweepEndpoints forgets the endpoints this process holds state about that
// are deleted, or live but idle for idleForget (no reading since, or none
// at all, and no work under way).
func (s *Service) sweepEndpoints(ctx context.Context) error {
	live := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM webhook_endpoints WHERE deleted_at = 0`)
	if err != nil {
		return fmt.Errorf("delivery: sweep endpoints: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("delivery: sweep endpoints: %w", err)
		}
		live[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("delivery: sweep endpoints: %w", err)
	}

	w := s.running.Load()
	if w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	s.winMu.Lock()
	defer s.winMu.Unlock()
	known := []iter.Seq[string]{maps.Keys(s.win)}
	if w != nil {
		known = append(known, maps.Keys(w.busy), maps.Keys(w.queue), maps.Keys(w.streak), maps.Keys(w.gens), maps.Keys(w.lat),
			maps.Keys(w.depth), maps.Keys(w.drained), maps.Keys(w.failing), maps.Keys(w.seen))
	}
	now := time.Now() // a reading's age is real time (reading.at)
	drop := map[string]bool{}
	for _, ids := range known {
		for id := range ids {
			if !live[id] {
				drop[id] = true
				continue
			}
			if w == nil {
				continue // no worker to judge idleness by; nothing reads the window either
			}
			if r, read := w.seen[id]; !w.usingEndpoint(id) && (!read || now.Sub(r.at) >= idleForget) {
				drop[id] = true
			}
		}
	}
	s.forgetLocked(w, slices.Collect(maps.Keys(drop)))
	return nil
}

// streakReset forgets the running worker's failure streak of endpoint id,
// after an operator re-enabled it here (the row's streak is 0 from then
// on). Workers elsewhere see it at their next claim (claimFor).
func (s *Service) streakReset(id string) {
	if w := s.running.Load(); w != nil {
		w.mu.Lock()
		delete(w.streak, id)
		w.mu.Unlock()
	}
}
