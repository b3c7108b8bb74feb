package vasp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// One walk (a sweep of PENDING incoming payments, a resolver round of
// outgoing ones in flight) through its batch of node lookups.
//
// A walk stops at the first lookup that finds the node unreachable
// (lightning.ErrUnavailable), and the next resumes there: see
// sweepPending and resolveOutgoingRound. But "unavailable" may be one
// payment's alone: lnd timing out on that one hash, a driver failing on
// one record, while it answers every other. Stopping there for good
// would leave every payment behind it unlooked-at: paid invoices never
// credited, payments in flight never booked. So when walks keep
// stopping at the same payment (stallWalks in a row), or at one found so
// before, the walk probes past it: it looks up the next ones, up to
// stallProbes of them. One answering (anything but unavailable) says the
// node is up: the payments that failed before it are stuck on their own,
// passed over for this walk (logged as such, naming them, once an hour:
// noteLookupFailures) and looked up again by the next walks. All of them
// unavailable says the node is down: the walk stops at the first, as
// before, and probes again only after stallWalks more stops there, so an
// outage costs a few more lookups every stallWalks+1 walks, not every
// walk.
//
// A walk also has a time limit (Service.walkLimit): no lookup starts
// once it has passed (the next walk resumes at the payment not looked
// up), and a lookup still unanswered at twice the limit is cut and counts
// as the node's being unreachable. The walk runs in the settlement loop
// (the sweep) or the resolver's: neither may be held without end by slow
// lookups, however many.

const (
	// stallWalks is how many walks in a row stop at the same payment
	// before the next probes past it.
	stallWalks = 2
	// stallProbes is how many lookups past a stalled payment a probe makes
	// before taking the node to be down. Payments known stuck (found so by
	// an earlier probe) do not count: their failing tells nothing.
	stallProbes = 2
	// defaultWalkLimit is Service.walkLimit's value: four times the sweep's
	// interval, twice lnd's default timeout, and far more than a batch of
	// answered lookups takes.
	defaultWalkLimit = time.Minute
	// stuckNotedMax bounds how many stuck payments a walker remembers.
	stuckNotedMax = lookupNotedMax
)

// stall is what a walker knows of payments its walks stop at: the one
// the last walks stopped at for the node's being unreachable (at, by id)
// and how many walks in a row did (walks), and the payments a probe found
// stuck on their own (stuck, by id: when). Guarded by the walker's lock,
// as its lookupLog.
type stall struct {
	at    string
	walks int
	stuck map[string]time.Time
}

// walk is one walk's state: see above.
type walk struct {
	s     *Service
	l     *lookupLog
	st    *stall
	ids   []string // the batch, in order
	start time.Time
	// ctx is for the lookups (the walk's hard limit); the caller's own
	// context is for the rest.
	ctx    context.Context
	cancel context.CancelFunc

	probeAt int             // index of the stalled payment probed past; -1: no probe
	held    []lookupFailure // the failures of the probe so far, from the stalled one's
	tries   int             // probe lookups that count toward stallProbes

	// failed and left are what noteLookupFailures is told.
	failed []lookupFailure
	left   int
	// outOfTime says the walk stopped at its time limit.
	outOfTime bool
}

func (s *Service) newWalk(ctx context.Context, l *lookupLog, ids []string) *walk {
	w := &walk{s: s, l: l, st: &l.stall, ids: ids, start: time.Now(), probeAt: -1}
	w.ctx, w.cancel = context.WithTimeout(ctx, 2*s.walkLimit)
	return w
}

// due reports whether the lookup of ids[i] may start. If not (the walk's
// time is up) the walk stops: resume is where the next walk starts.
func (w *walk) due(i int) (resume int, ok bool) {
	if time.Since(w.start) < w.s.walkLimit {
		return 0, true
	}
	w.outOfTime = true
	resume = i
	if w.probeAt >= 0 {
		// Unsettled: neither the node's being down nor the payment's
		// being stuck. The next walk starts at the stalled one again,
		// which the stall record still names.
		resume = w.probeAt
		w.unsettled()
	}
	w.left = len(w.ids) - i
	return resume, false
}

// unreachable reports whether err (of a lookup the caller's context did
// not cut) says the node could not be reached: ErrUnavailable, or the
// walk's hard limit. The latter is turned into the former.
func (w *walk) unreachable(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	if w.ctx.Err() != nil {
		return fmt.Errorf("%w: no answer within the walk's time limit (%s): %w", lightning.ErrUnavailable, 2*w.s.walkLimit, err), true
	}
	return err, errors.Is(err, lightning.ErrUnavailable)
}

// unavailable handles the lookup of ids[i] finding the node unreachable
// (f, marked unreachable). It returns the index of the payment the walk
// stops at, for the next walk to resume at, or -1 to go on.
func (w *walk) unavailable(i int, f lookupFailure) int {
	id := w.ids[i]
	if w.probeAt >= 0 {
		w.held = append(w.held, f)
		if _, known := w.st.stuck[id]; !known {
			w.tries++
		}
		if w.tries < stallProbes {
			return -1
		}
		// Every probe failed alike: the node is down. Stop at the
		// stalled one, as without the probe; probe again after
		// stallWalks more stops there. Which payments are stuck on their
		// own, an outage cannot tell: forgotten.
		w.failed = append(w.failed, w.held...)
		w.left = len(w.ids) - i - 1
		at := w.probeAt
		w.st.at, w.st.walks, w.st.stuck = w.ids[at], 0, nil
		return at
	}
	_, known := w.st.stuck[id]
	if known || (w.st.at == id && w.st.walks >= stallWalks) {
		w.probeAt, w.held, w.tries = i, []lookupFailure{f}, 0
		return -1
	}
	w.failed = append(w.failed, f)
	w.left = len(w.ids) - i - 1
	if w.st.at == id {
		w.st.walks++
	} else {
		w.st.at, w.st.walks = id, 1
	}
	return i
}

// answered notes that the lookup of ids[i] was answered (found, not
// found, or an answer of no use: anything but the node's being
// unreachable). A probe under way ends: the node is up, and the payments
// whose lookups failed before this one are stuck on their own.
func (w *walk) answered(i int) {
	delete(w.st.stuck, w.ids[i])
	if w.probeAt < 0 {
		return
	}
	now := time.Now()
	for _, f := range w.held {
		f.unreachable, f.stuck = false, true
		w.failed = append(w.failed, f)
		w.st.stuck = noteAt(w.st.stuck, f.id, now, lookupLogEvery, stuckNotedMax)
	}
	w.st.at, w.st.walks = "", 0
	w.probeAt, w.held, w.tries = -1, nil, 0
}

// resume is where the next walk starts when this one is cut (its caller's
// context ended) at ids[i]: the stalled payment if a probe is under way.
func (w *walk) resume(i int) int {
	if w.probeAt >= 0 {
		return w.probeAt
	}
	return i
}

// finish ends a walk that went through its whole batch. A probe still
// under way settled nothing: no payment after the stalled one answered,
// but the batch ended. The walk does not stop at the stalled one all the
// same: at the end of the lap that would keep every later walk from the
// payments before it, and those of the next batch are what the next walk
// looks up first anyway, a probe of its own. The probe's failures are
// logged as the node's being unreachable (unsettled); if any payment after the
// stalled one failed alike (the node may well be down), the stall record
// starts over as after a failed probe, else it is kept, so the stalled
// one is probed past at once when met next.
func (w *walk) finish() {
	if w.probeAt < 0 {
		w.st.at, w.st.walks = "", 0
		return
	}
	w.unsettled()
	if w.tries > 0 {
		w.st.at, w.st.walks, w.st.stuck = w.ids[w.probeAt], 0, nil
	}
}

// end ends walk w, named what: it logs the lookups that failed (lines
// say how) and its stopping at its time limit, then releases its lookups'
// context. Called with the walker's lock held, as every walk runs.
func (w *walk) end(ctx context.Context, lines lookupLines, what string) {
	w.s.noteLookupFailures(ctx, w.l, lines, w.failed, w.left)
	w.s.noteOutOfTime(ctx, w, what)
	w.cancel()
}

// noteOutOfTime logs that walk w (what names the walker) stopped at its
// time limit, if it did: as a warning once every lookupLogEvery (it says
// lookups are slow, and may go on every walk), at debug level otherwise.
// Called with the walker's lock held.
func (s *Service) noteOutOfTime(ctx context.Context, w *walk, what string) {
	if !w.outOfTime {
		return
	}
	level := slog.LevelDebug
	if w.l.noted.due("out of time", s.clock.Now(), lookupLogEvery) {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, what+": stopped at its time limit, the node's lookups being slow; the next one goes on from there (logged once an hour while it happens)",
		"limit", w.s.walkLimit.String(), "left", w.left)
}

// unsettled adds the failures of a probe that found out nothing to the
// walk's: as the node's being unreachable, but for those of payments
// found stuck before, which nothing here says otherwise of.
func (w *walk) unsettled() {
	for _, f := range w.held {
		if _, known := w.st.stuck[f.id]; known {
			f.unreachable, f.stuck = false, true
		}
		w.failed = append(w.failed, f)
	}
}
