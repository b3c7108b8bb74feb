package delivery

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/vaspd/vaspd/store"
)

// complete records finished attempts in batches: one transaction for up to
// 512 results or whatever arrived within a couple of milliseconds. Batching
// is what lets SQLite keep up with the HTTP side. A batch that fails to
// commit is retried; if the process dies first, the leases expire and the
// deliveries are attempted again (same webhookId), which is the
// at-least-once contract.
func (w *worker) complete() {
	const maxBatch = 512
	var batch []finished
	closed := false // Run is stopping: no more results will come
	failures := 0
	for {
		// Results left from the last transaction (a chunk, or a failed
		// commit) go out without waiting for stragglers.
		wait := 2 * time.Millisecond
		if len(batch) > 0 {
			wait = 0
		} else {
			if closed {
				return
			}
			f, ok := <-w.results
			if !ok {
				return
			}
			batch = append(batch, f)
		}
		// Gather what is already there, and give stragglers a moment.
		linger := time.NewTimer(wait)
	gather:
		for len(batch) < maxBatch && !closed {
			select {
			case f, ok := <-w.results:
				if !ok {
					closed = true
					break gather
				}
				batch = append(batch, f)
			case <-linger.C:
				break gather
			}
		}
		linger.Stop()
		n := recordChunk(batch)
		if err := w.record(batch[:n]); err != nil {
			failures++
			if closed && failures >= 50 {
				// Shutting down with the database unreachable: do not hang.
				// The leases expire and the deliveries are attempted again.
				w.s.opt.Log.Error("giving up recording webhook attempts at shutdown; they will be attempted again",
					"n", len(batch), "err", err)
				batch, failures = batch[:0], 0
				continue
			}
			w.s.opt.Log.Warn("recording webhook attempts failed; retrying", "n", n, "err", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		batch, failures = append(batch[:0], batch[n:]...), 0
	}
}

// recordCost bounds the work of one recording transaction. A success costs
// 1 (an attempt row and a delivery update); a failure costs more, since it
// also hands back its endpoint's claimed rows and updates the endpoint. A
// hundred endpoints timing out together are thus recorded in several short
// transactions, between which other writers — on SQLite, every other
// transaction of the process — get their turn, instead of one long one
// that a healthy endpoint's next claim and its producers wait behind.
const recordCost = 128

// recordChunk returns how many results from the front of batch make one
// recording transaction (at least one).
func recordChunk(batch []finished) int {
	cost := 0
	for i, f := range batch {
		c := 1
		if classify(f.res.status) != outcomeDelivered {
			c = 4 + len(f.release)
		}
		if i > 0 && cost+c > recordCost {
			return i
		}
		cost += c
	}
	return len(batch)
}

// record writes a batch of results: attempt rows, delivery states, endpoint
// failure streaks, back-offs and 410 disabling.
func (w *worker) record(batch []finished) error {
	s := w.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := s.opt.Clock.Now()
	us := store.Micros(now)

	// Endpoint state is computed in arrival order from what this process
	// knows: each endpoint's streak before the batch, and the endpoint's
	// gen (updated_at, streak_resets) it holds under.
	w.mu.Lock()
	base := map[string]streakBase{}
	for _, f := range batch {
		id := f.c.t.id
		if _, ok := base[id]; ok {
			continue
		}
		b := streakBase{streak: f.c.t.streak, gen: f.c.t.gen}
		if st, ok := w.streak[id]; ok {
			b.streak = st
			if g, known := w.gens[id]; known {
				b.gen = g
			}
		}
		base[id] = b
	}
	w.mu.Unlock()
	known := s.endpointChanges(batch, base)
	eps := known
	// The endpoints whose rows this batch writes: every 410 is a change.
	// In the common case (every attempt delivered, no streak to reset)
	// there is none, and no endpoint row is written: the clean ones are
	// only read, for a streak another process counted (lockEndpoints).
	var changed, clean []string
	for id, ec := range known {
		if ec.changed {
			changed = append(changed, id)
		} else {
			clean = append(clean, id)
		}
	}
	slices.Sort(changed)
	slices.Sort(clean)

	var outcomes []outcomeLabel
	var wrote map[string]streakGen // the gens of the endpoint rows written
	err := s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		outcomes = outcomes[:0]
		// The attempt log; on PostgreSQL it is written by the deliveries'
		// statement (recordDeliveriesPG).
		pg := tx.Driver().Name() == "postgres"
		if !pg {
			if err := insertAttempts(ctx, tx, batch); err != nil {
				return err
			}
		}
		// Endpoint rows before delivery rows, in id order: see
		// lockEndpoints, which also reads their gens and streaks. An
		// endpoint whose streak ended since it was known here — re-enabled,
		// or delivered to, by any process, while these attempts were in
		// flight — counts this batch's results on the row's streak. So does
		// one whose streak grew in the row under the same gen: failures
		// another process counted since (its worker's, its sync sends'),
		// which move no gen. Counted on this worker's smaller streak, they
		// were written over, and the back-off was a shorter streak's
		// (TestFailureCountsOnStreakCountedElsewhere). Read under the row
		// lock (on SQLite, in the exclusive write transaction), the row's
		// streak is the one this batch's write replaces.
		gens, err := lockEndpoints(ctx, tx, changed, clean)
		if err != nil {
			return err
		}
		// A clean endpoint read is one whose row holds a streak counted
		// elsewhere: this batch's success ends it, so its row is written.
		// (writes, not changed: InBackgroundTx may run this again.)
		writes := changed
		for _, id := range clean {
			if _, ok := gens[id]; ok {
				writes = append(slices.Clip(writes), id)
			}
		}
		// base stays as read (InBackgroundTx may run this again): the
		// moved readings go in a copy, made only when one moved.
		eps = known
		var cur map[string]streakBase
		for id, g := range gens {
			if b := base[id]; b.gen != g.gen || g.streak > b.streak {
				if cur == nil {
					cur = maps.Clone(base)
				}
				cur[id] = g
			}
		}
		if cur != nil {
			eps = s.endpointChanges(batch, cur)
		}
		wrote = make(map[string]streakGen, len(gens))
		for id, g := range gens {
			g.gen.resets += eps[id].resets()
			wrote[id] = g.gen
		}
		// 410s disable their endpoints before the deliveries are updated:
		// a delivery's last_error says whether its endpoint was disabled,
		// which only this tells.
		for _, id := range writes {
			if err := disableGone(ctx, tx, s, id, eps[id], us); err != nil {
				return err
			}
		}
		if err := updateStreaks(ctx, tx, writes, eps); err != nil {
			return err
		}
		if pg {
			outcomes, err = s.recordDeliveriesPG(ctx, tx, batch, eps, now, us)
		} else {
			outcomes, err = s.recordDeliveries(ctx, tx, batch, eps, now, us)
		}
		if err != nil {
			return err
		}
		if s.recordLocked != nil {
			s.recordLocked()
		}
		var released []claimed
		for _, f := range batch {
			released = append(released, f.release...)
		}
		return releaseIn(ctx, tx, released, us)
	})
	if err != nil {
		return err
	}
	// Only what committed is counted and remembered.
	w.mu.Lock()
	for id, ec := range eps {
		w.streak[id] = ec.streak
	}
	for id, g := range wrote {
		// The streak just written holds under the row's gen as written (a
		// reset moved it): the next reading of the row, and this worker's
		// failures, count on it.
		w.gens[id] = g
	}
	for _, f := range batch {
		if id := f.c.t.id; classify(f.res.status) != outcomeDelivered && w.failing[id] > 0 {
			if w.failing[id]--; w.failing[id] == 0 {
				delete(w.failing, id)
			}
		}
	}
	w.mu.Unlock()
	for id, ec := range eps {
		switch {
		case ec.disabled:
			s.opt.Log.Warn("webhook endpoint disabled", "endpoint", id, "reason", ec.disable)
		case ec.wasDisabled:
			s.opt.Log.Info("410 Gone from a webhook endpoint disabled already; its reason stays", "endpoint", id)
		case ec.disable != "":
			s.opt.Log.Info("410 Gone from a webhook endpoint's former URL; not disabled", "endpoint", id)
		}
		if ec.changed {
			s.m.streak(id, ec.streak)
		}
	}
	for i, f := range batch {
		s.m.attempt(f.res)
		s.m.outcome(outcomes[i])
	}
	return nil
}
