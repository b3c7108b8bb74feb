package vasp

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Lookups the sweep (sweepPending) or the resolver of outgoing payments
// (resolveOutgoingRound) could not make. A payment whose lookup fails with
// anything but ErrNotFound is left as it is (PENDING, or PROCESSING with
// its money reserved) and looked up again by the next sweep (15 s later)
// or round (2 s later): only the node can tell whether it was paid.
// Silently, such a payment could stay so for ever with nothing in the log;
// logged at each try, it would bury everything else. So failures are
// logged, in two kinds, each as at most one line per sweep or round (a
// node that fails every lookup alike makes one line, not one per
// payment):
//
//   - The node cannot be reached (lightning.ErrUnavailable: down,
//     starting, timing out). Every payment would fail alike and will
//     complete by itself once the node is back, so the walk stops at the
//     first such failure and naming each payment tells nothing: one WARN
//     line with the count of the payments the sweep or round left without
//     an answer (the one that failed and those behind it in the batch) and
//     the error when a walk first meets the outage, then once every
//     lookupLogEvery while it lasts (a sweep or round with no such failure
//     ends it, so the next outage is logged at once).
//   - The node could not be reached for this payment alone: its lookup
//     keeps failing as above while the node answers the payments after it
//     (see walk). The walk passes it over so that it holds up no other,
//     and it will not complete until its lookup succeeds, so the operator
//     needs its payment hash: one ERROR line naming the payments found so
//     that this process has not reported in the last lookupLogEvery (up to
//     lookupLogList), and the count found in this sweep or round.
//   - Anything else: the node answered about this payment but its answer
//     is unusable (lnd's amounts out of range, a malformed field: see
//     lightning/lnd), or the stored payment hash does not parse. That
//     payment will not complete until someone looks, so the operator needs
//     its payment hash and the cause: one ERROR line naming the payments
//     failing so that this process has not reported in the last
//     lookupLogEvery (the first with its error, up to lookupLogList in
//     all), and the count failing in this sweep or round. Nothing when
//     none is new.
//
// Every failure is also logged at debug level, each time. The sweep and
// the resolver each keep their own record of what they logged (a
// lookupLog), so neither's lookups end or hide the other's outage.
type lookupFailure struct {
	id, hash    string
	err         error
	unreachable bool
	stuck       bool // unreachable for this payment alone (see walk)
}

const (
	// lookupLogEvery is how often a payment whose lookup keeps failing
	// (or the node's being unreachable) is logged again.
	lookupLogEvery = time.Hour
	// lookupNotedMax bounds how many payments' last report this process
	// keeps, per lookupLog (per noteLog); past it the oldest is forgotten
	// (and may be reported again sooner than lookupLogEvery).
	lookupNotedMax = 1024
	// lookupLogList is how many payment hashes one line names.
	lookupLogList = 10
)

// lookupLog is when each payment whose lookup fails (by payment hash) was
// last logged as such, and what was logged of the node's being
// unreachable, for one walker of payments: see lookupFailure; and what
// it knows of the payments its walks stop at (stall: see walk). Its
// walker's lock (sweepMu, resolveMu) guards outage and stall. The zero
// value is ready to use.
type lookupLog struct {
	noted  noteLog
	outage outage
	stall  stall
}

// outage is what was logged of a trouble that fails alike everything a
// walker of payments (a sweep, a resolver round) does while it lasts: the
// node unreachable, the database failing. since is when a walk first met
// it and logged when it was last logged above debug level; both are zero
// while there is none. Its walker's lock guards it; the zero value is
// ready to use.
type outage struct{ since, logged time.Time }

// note records whether the walk at now met the trouble (failing), and says
// whether to log it above debug level (report): when a walk first meets
// it, then once every `every` while it lasts. A walk that does not meet it
// ends it (ended, with lasted, how long since a walk first met it), so the
// next one is news at once.
func (o *outage) note(now time.Time, failing bool, every time.Duration) (report, ended bool, lasted time.Duration) {
	if !failing {
		if o.since.IsZero() {
			return false, false, 0
		}
		lasted = now.Sub(o.since)
		*o = outage{}
		return false, true, lasted
	}
	if o.since.IsZero() {
		o.since = now
	}
	if o.logged.IsZero() || now.Sub(o.logged) >= every {
		o.logged = now
		return true, false, 0
	}
	return false, false, 0
}

// noteLog is when each trouble of one payment (by a key naming the payment
// and the trouble) was last logged above debug level: the first time this
// process meets it, then once every so often while it lasts (due). It
// keeps at most lookupNotedMax keys, forgetting the oldest past it (which
// may then be logged again sooner). The zero value is ready to use.
type noteLog struct {
	mu    sync.Mutex
	noted map[string]time.Time
}

// due reports whether the trouble key, met at now, is to be logged above
// debug level: it was not in the last every. If so, it is recorded as
// logged at now.
func (l *noteLog) due(key string, now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, seen := l.noted[key]; seen && now.Sub(last) < every {
		return false
	}
	l.noted = noteAt(l.noted, key, now, every, lookupNotedMax)
	return true
}

// lookupLines are what one walker's failed lookups are logged as (see
// lookupFailure): each failure (debug), the node's being unreachable
// (warning), the node's being unreachable for some payments alone (error),
// answers or payment hashes that are no use (error).
type lookupLines struct{ failed, unreachable, stuck, broken string }

var (
	sweepLookupLines = lookupLines{
		failed:      "sweep pending payments: invoice lookup failed; left PENDING, looked up again next sweep",
		unreachable: "sweep pending payments: the Lightning node could not be reached to look up their invoices; they stay PENDING, and each sweep tries again from the one that failed",
		stuck:       "sweep pending payments: the Lightning node answers other invoice lookups but not these payments' (unavailable, or timing out, each time); they stay PENDING until it does, passed over so that the sweep looks up the payments behind them, and looked up again each sweep",
		broken:      "sweep pending payments: invoice lookup failed (the node's answer is unusable, or the stored payment hash is bad); these payments stay PENDING until it succeeds",
	}
	resolveLookupLines = lookupLines{
		failed:      "resolve outgoing payments: payment lookup failed; left PROCESSING, looked up again next round",
		unreachable: "resolve outgoing payments: the Lightning node could not be reached to look up payments in flight; they stay PROCESSING, their money reserved, and each round tries again from the one that failed",
		stuck:       "resolve outgoing payments: the Lightning node answers other payment lookups but not these payments' (unavailable, or timing out, each time); they stay PROCESSING, their money reserved, until it does, passed over so that the resolver looks up the payments behind them, and looked up again each round",
		broken:      "resolve outgoing payments: payment lookup failed (the node's answer is unusable, or the stored payment hash is bad); these payments stay PROCESSING, their money reserved, until it succeeds",
	}
)

// noteLookupFailures logs, as lines say, the lookups one sweep or round
// could not make (see lookupFailure), and left, how many payments it did
// not look up for stopping at the node's being unreachable. l is the
// walker's record of what it logged; called with the walker's lock held.
func (s *Service) noteLookupFailures(ctx context.Context, l *lookupLog, lines lookupLines, failed []lookupFailure, left int) {
	now := s.clock.Now()
	var unreachable, stuck, broken []lookupFailure
	for _, f := range failed {
		s.log.Debug(lines.failed, "transaction", f.id, "payment_hash", f.hash, "err", f.err)
		switch {
		case f.unreachable:
			unreachable = append(unreachable, f)
		case f.stuck:
			stuck = append(stuck, f)
		default:
			broken = append(broken, f)
		}
	}
	logOutage, _, _ := l.outage.note(now, len(unreachable) > 0, lookupLogEvery)
	if logOutage {
		f := unreachable[0]
		s.log.Warn(lines.unreachable, "count", len(unreachable)+left, "payment_hash", f.hash, "err", f.err)
	}
	// Keys of their own: a payment may be stuck one hour and its answer
	// of no use the next.
	s.noteNews(ctx, l, lines.stuck, "stuck ", stuck, now)
	s.noteNews(ctx, l, lines.broken, "", broken, now)
}

// noteNews logs, as msg, one error naming those of fs (failed lookups of
// one kind, its keys in l.noted prefixed with kind) that this process has
// not reported in the last lookupLogEvery, if any: the first with its
// error, up to lookupLogList in all, and the count of fs.
func (s *Service) noteNews(ctx context.Context, l *lookupLog, msg, kind string, fs []lookupFailure, now time.Time) {
	var news []lookupFailure
	for _, f := range fs {
		if l.noted.due(kind+f.hash, now, lookupLogEvery) {
			news = append(news, f)
		}
	}
	if len(news) == 0 {
		return
	}
	hashes := make([]string, 0, min(len(news), lookupLogList))
	for _, f := range news[:min(len(news), lookupLogList)] {
		hashes = append(hashes, f.hash)
	}
	f := news[0]
	s.log.Log(ctx, slog.LevelError, msg,
		"count", len(fs), "transaction", f.id, "payment_hash", f.hash, "err", f.err, "payment_hashes", hashes)
}

// noteAt records in m (made if nil, and returned) that the payment with
// payment hash h was reported at now, keeping at most maxEntries entries:
// those older than every would be reported anew anyway and go first, then
// the oldest. Called with the lock guarding m held.
func noteAt(m map[string]time.Time, h string, now time.Time, every time.Duration, maxEntries int) map[string]time.Time {
	if m == nil {
		m = map[string]time.Time{}
	}
	if _, seen := m[h]; !seen && len(m) >= maxEntries {
		oldest, at := "", time.Time{}
		for k, t := range m {
			if now.Sub(t) >= every {
				delete(m, k)
			} else if oldest == "" || t.Before(at) {
				oldest, at = k, t
			}
		}
		if len(m) >= maxEntries {
			delete(m, oldest)
		}
	}
	m[h] = now
	return m
}

// findLogEvery is how often a walker's query for its payments (the
// resolver's for payments in flight, the sweep's for PENDING ones) is
// logged as a warning while it fails. Shorter than lookupLogEvery: a
// database that cannot answer stops all of vaspd's work, not only these
// payments, and is vaspd's own to fix; a line every 5 minutes keeps one
// among the latest for whoever looks while it lasts, at 12 lines an hour
// instead of hundreds.
const findLogEvery = 5 * time.Minute

// findFailure is what went wrong finding a walk's payments: the log line
// and the error.
type findFailure struct {
	msg string
	err error
}

// finding names a walker's query for noteFindFailures: what it finds, and
// how often it tries again.
type finding struct{ what, retry string }

var (
	resolveFinding = finding{what: "find payments in flight", retry: "the resolver tries again each round (2 s)"}
	sweepFinding   = finding{what: "sweep pending payments", retry: "the sweep tries again every 15 s"}
)

// noteFindFailures logs what went wrong with one walk's query for its
// payments (failed; none: it went well), o recording the walker's outage,
// without flooding the log while the database fails every walk: each
// failure at debug level, and the walk's first as a warning when a walk
// first fails and then once every findLogEvery while walks keep failing;
// the first walk whose query goes well after that says so. Called with the
// walker's lock held (resolveMu, sweepMu).
func (s *Service) noteFindFailures(ctx context.Context, o *outage, f finding, failed []findFailure) {
	if ctx.Err() != nil {
		return // stopping: the query was cut, and says nothing of the database
	}
	report, ended, lasted := o.note(s.clock.Now(), len(failed) > 0, findLogEvery)
	for i, ff := range failed {
		if report && i == 0 {
			s.log.Warn(ff.msg+"; "+f.retry+", this is logged again every 5 minutes while it fails", "err", ff.err)
			continue
		}
		s.log.Debug(ff.msg, "err", ff.err)
	}
	if ended {
		s.log.Info(f.what+": the database answers again", "failed_for", lasted.Round(time.Second).String())
	}
}
