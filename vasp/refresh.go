package vasp

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Auto-refresh: a quote made with autoRefresh (vaspd's own field) keeps
// its id while the platform holds it, its terms renewed in place shortly
// before its invoice expires: a fresh payreq to the receiver with the
// stored request (the same sender, locked side and amount, currencies,
// description and payer data), and a new invoice, payment hash, amounts,
// fee and expiry. POST /quotes/{id}/refresh, which makes a new quote, is
// unchanged.
//
// When. A quote is due once it has less than QuoteRefreshLead (30 s)
// left before its expiry (QuoteExpiryMargin before its invoice's), or less than half the life its terms were given, whichever
// comes later: a receiver issuing invoices shorter than twice the lead is
// not sent a payreq on every pass. It is due in any case once it has a
// pass (QuoteRefreshEvery) or less left, so that one pass at least comes
// while it is due: terms living less than two passes would otherwise be
// due for less than one, and a quote whose terms live less than a pass
// cannot be kept alive. Refreshing stops QuoteRefreshMaxHold (1
// h) after the quote was made; the quote then expires with its last
// terms, as any other, and a refresh at the platform's request is still
// there. Each payreq costs the receiver an approval webhook: a quote is
// sent at most one per half-life of its terms, and one per pass
// (QuoteRefreshEvery, 5 s) while it fails, until it expires.
//
// Who. Any process may refresh any quote: a round claims the quotes due
// with one conditional UPDATE that moves refresh_next_at a lease ahead
// (FOR UPDATE SKIP LOCKED on PostgreSQL), so one process at a time holds
// a quote. Within a process each quote claimed is refreshed in its own
// goroutine, refreshBatch at most at once (refreshPerCounterparty of
// them to one receiver's domain), and a pass does not wait for
// the attempts before it (refreshQuotes). The payreq goes out with no transaction open; the new terms
// are written by one UPDATE conditional on the quote still being PENDING,
// unexecuted, unexpired and holding the payment hash the refresh started
// from.
// ExecuteQuote's claim is conditional on the hash it read, likewise, so
// of an execute and a refresh only one wins, and an execute never debits
// one set of amounts while paying another invoice (see ExecuteQuote).
//
// Bound. New terms worse for our user than those the quote was made with
// by more than QuoteRefreshMaxChangeBps (2 %) are not written, and the
// quote's auto-refresh stops: refresh_bound.go.
//
// Failures (the receiver down or refusing, the amount now out of its
// range, the user deleted) leave the terms as they are: the quote is due
// again a pass after the attempt began, logged as a warning naming the
// quote, and counted. A process dying anywhere in between leaves at worst
// an invoice at the receiver that nobody pays and that expires; the quote
// keeps its terms, and its lease ends.

// Defaults of Options.QuoteRefreshLead, QuoteRefreshMaxHold and
// QuoteRefreshEvery.
const (
	DefaultQuoteRefreshLead    = 30 * time.Second
	DefaultQuoteRefreshMaxHold = time.Hour
	DefaultQuoteRefreshEvery   = 5 * time.Second
)

// refreshBatch bounds the refresh attempts a process runs at once, each
// under its own lease: a pass claims as many quotes as are free.
const refreshBatch = 16

// refreshPerCounterparty bounds the attempts of refreshBatch that quotes
// to one receiving VASP (its domain) hold at once. A receiver hanging on
// each call (up to CounterpartyTimeout) with many quotes due, first by
// expiry, would otherwise hold every attempt as long as it hangs, and
// the quotes to every other receiver, held back, could expire
// unrefreshed; so at least three quarters stay for the others.
const refreshPerCounterparty = 4

// Outcomes of a refresh attempt (vaspd_quote_refreshes_total).
const (
	refreshRefreshed  = "refreshed"  // new terms written
	refreshFailed     = "failed"     // no new terms: the quote keeps its own
	refreshSuperseded = "superseded" // new terms, but the quote was executed, changed or expired meanwhile
	// new terms worse for our user than the quote's first beyond the
	// tolerance (refresh_bound.go): not written, and the quote's
	// auto-refresh stopped
	refreshRefusedPrice = "refused_price"
)

// Why a quote's auto-refresh stopped (Quote.AutoRefreshStopped).
const (
	// RefreshStoppedPriceChanged: a refresh's new terms were worse for the
	// sending user than the quote's first terms by more than
	// quote-refresh-max-change-bps; the quote kept its terms.
	RefreshStoppedPriceChanged = "PRICE_CHANGED"
	// RefreshStoppedUserDeleted: the sending user was deleted.
	RefreshStoppedUserDeleted = "USER_DELETED"
	// RefreshStoppedReplaced: POST /quotes/{id}/refresh made a new quote,
	// which auto-refreshes instead.
	RefreshStoppedReplaced = "REPLACED"
)

func newRefreshMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaspd_quote_refreshes_total",
		Help: "Auto-refresh attempts of quotes, by outcome: refreshed, failed (the quote keeps its terms), superseded (executed, changed or expired meanwhile), refused_price (the receiver's new price beyond quote-refresh-max-change-bps of the quote's first terms: not written, auto-refresh stopped).",
	}, []string{"outcome"}))
	if err != nil {
		return nil, err
	}
	// Every outcome is served from the start, at 0: a series born at its
	// first Inc reads 1 at its first scrape, and increase() sees no rise
	// in it, so VaspdQuoteRefreshPriceRefused would miss the first refused
	// price of every process.
	for _, o := range []string{refreshRefreshed, refreshFailed, refreshSuperseded, refreshRefusedPrice} {
		c.WithLabelValues(o)
	}
	return c, nil
}

// refreshQuotes runs refresh passes, the first at once, then every
// QuoteRefreshEvery until ctx ends: a process starting (after a crash, an
// upgrade) takes up the quotes due without waiting a pass. A pass does not
// wait for the attempts of the passes before it: one receiver slow to
// answer (up to CounterpartyTimeout, for each of its two calls) would
// otherwise hold back the refresh of every other quote by as much, and
// quotes due meanwhile could expire unrefreshed. A pass claims only as
// many quotes as the process has attempts free (refreshBatch in all) and
// leaves out the quotes whose attempt is still running here: a claim that
// ended halfway to a quote's expiry (claimEnd) while its attempt runs
// would otherwise have this process refresh it twice at once. Returns once
// ctx ended and the attempts running have stopped.
func (s *Service) refreshQuotes(ctx context.Context) {
	run := newRefreshRun()
	defer run.wg.Wait()
	for first := true; first || vaspd.Sleep(ctx, s.opt.QuoteRefreshEvery); first = false {
		if err := s.refreshPass(ctx, run); err != nil && ctx.Err() == nil {
			level := slog.LevelDebug
			if s.refreshNoted.due("find", s.clock.Now(), lookupLogEvery) {
				level = slog.LevelWarn
			}
			s.log.Log(ctx, level, "auto-refresh quotes: cannot claim the quotes due; tried again next pass", "err", err)
		}
	}
}

// refreshRun is the refresh attempts running in a process: their quotes
// and receivers' domains, how many got new terms, and a WaitGroup to wait
// for them.
type refreshRun struct {
	wg        sync.WaitGroup
	mu        sync.Mutex
	running   map[string]string // quote id: its receiver's domain
	refreshed int
}

func newRefreshRun() *refreshRun { return &refreshRun{running: map[string]string{}} }

// busy is the quotes whose attempt is running, and how many of them each
// receiver's domain has.
func (r *refreshRun) busy() ([]string, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	perDomain := map[string]int{}
	for _, d := range r.running {
		perDomain[d]++
	}
	return slices.Collect(maps.Keys(r.running)), perDomain
}

// refreshDomainSQL is the domain of the receiver of the quote quote (an
// uma_quotes row, as the query names it), lower-cased, from its lookup's
// address ("$bob@domain", or a plain Lightning Address): "" when the
// lookup is gone.
func refreshDomainSQL(d store.Driver, quote string) string {
	at := "instr(l.receiver, '@')"
	if d.Name() == "postgres" {
		at = "strpos(l.receiver, '@')"
	}
	return `COALESCE((SELECT lower(substr(l.receiver, ` + at + ` + 1)) FROM uma_lookups l WHERE l.id = ` + quote + `.lookup_id), '')`
}

// claimsOf scans a claimed quote and its receiver's domain.
type claimsOf struct {
	rows   *sql.Rows
	domain *string
}

func (c claimsOf) Scan(dest ...any) error { return c.rows.Scan(append(dest, c.domain)...) }

// refreshLease is how long a claim keeps other processes off a quote: an
// attempt's two counterparty calls (the receiver's keys, its payreq) and
// a margin for the database. A quote's claim ends earlier when its invoice
// is close to expiry: see claimEnd.
func (s *Service) refreshLease() time.Duration {
	return 2*s.opt.CounterpartyTimeout + 10*time.Second
}

// claimEnd is when the claim of a quote expiring at expires, made at now
// with the lease ending at lease (all in stored microseconds), ends: at
// the lease's end, or halfway from now to the expiry if that is sooner.
// The lease (40 s by default) is longer than a quote's last stretch (the
// 30 s lead), so a process that died holding a whole lease left its quote
// to expire unrefreshed; ending the claim halfway leaves another process
// the second half. An attempt still running then may find the quote
// refreshed by the other (its write is conditional on the terms it read:
// superseded, one payreq wasted), which costs less than the quote. The
// claim's UPDATE computes the same in SQL (claimEndSQL), to the
// microsecond: integer halves of positive numbers truncate alike.
func claimEnd(now, expires, lease int64) int64 {
	return min(lease, now+(expires-now)/2)
}

// claimEndSQL is claimEnd for the row being claimed, with $1 the lease's
// end and $2 now.
const claimEndSQL = `CASE WHEN $2 + (expires_at - $2) / 2 < $1 THEN $2 + (expires_at - $2) / 2 ELSE $1 END`

// refreshPass claims the quotes due, up to the attempts run has free and
// leaving out those it runs, and starts the refresh of each in its own
// goroutine on run, without waiting for them.
func (s *Service) refreshPass(ctx context.Context, run *refreshRun) error {
	busy, perDomain := run.busy()
	limit := refreshBatch - len(busy)
	if limit <= 0 {
		return nil // as many attempts as allowed are running: next pass
	}
	now := s.clock.Now()
	lease := store.Micros(now.Add(s.refreshLease()))
	args := []any{lease, store.Micros(now), s.opt.QuoteRefreshLead.Microseconds(), store.Micros(now.Add(-s.opt.QuoteRefreshMaxHold)), limit,
		s.opt.QuoteRefreshEvery.Microseconds(), refreshPerCounterparty}
	mark := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	notBusy := ""
	if len(busy) > 0 {
		marks := make([]string, len(busy))
		for i, id := range busy {
			marks[i] = mark(id)
		}
		notBusy = "AND q.id NOT IN (" + strings.Join(marks, ", ") + ")"
	}
	// What each receiver's domain may still take: refreshPerCounterparty
	// less its attempts running here (0: none this pass).
	// Typed: PostgreSQL reads an untyped parameter in a CASE as text.
	free := "CAST($7 AS BIGINT)"
	if len(perDomain) > 0 {
		var b strings.Builder
		b.WriteString("CASE domain")
		for _, d := range slices.Sorted(maps.Keys(perDomain)) {
			fmt.Fprintf(&b, " WHEN CAST(%s AS TEXT) THEN CAST(%s AS BIGINT)", mark(d), mark(max(refreshPerCounterparty-perDomain[d], 0)))
		}
		b.WriteString(" ELSE CAST($7 AS BIGINT) END")
		free = b.String()
	}
	type claimed struct {
		Quote
		domain string
	}
	var due []claimed
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		due = due[:0] // InTx may run this again
		// Due: unexecuted, unexpired, within the hold, not claimed (or a
		// failed attempt a pass ago), and with less than the lead and
		// less than half its terms' life left, or a pass or less: terms
		// living under two passes would otherwise be due for less than
		// one, which the passes may miss (one before, the next after the
		// expiry). 'PENDING' and TRUE are literals: the partial index
		// (migration 0590) is built for them. The first by expiry of
		// each receiver's domain, as many as it may take (ranked), then
		// the first of those; the rows taken are locked, skipping those
		// another process claims (PostgreSQL: a window function's query
		// cannot lock), and the UPDATE checks again that each is
		// unclaimed: one another process claimed meanwhile is left to it.
		domain := refreshDomainSQL(tx.Driver(), "q")
		rows, err := tx.QueryContext(ctx, `UPDATE uma_quotes SET refresh_next_at = `+claimEndSQL+`
			WHERE id IN (SELECT id FROM uma_quotes WHERE refresh_next_at <= $2 AND id IN (
				SELECT id FROM (
					SELECT id, expires_at, domain, ROW_NUMBER() OVER (PARTITION BY domain ORDER BY expires_at, id) AS nth FROM (
						SELECT q.id, q.expires_at, `+domain+` AS domain FROM uma_quotes q
						WHERE q.auto_refresh = TRUE AND q.status = 'PENDING' AND q.transaction_id IS NULL
							AND q.expires_at > $2
							AND (q.expires_at - $3 <= $2 AND q.expires_at - (q.expires_at - COALESCE(q.refreshed_at, q.created_at)) / 2 <= $2
								OR q.expires_at - $6 <= $2)
							AND q.created_at > $4 AND q.refresh_next_at <= $2 `+notBusy+`) due) ranked
				WHERE nth <= `+free+`
				ORDER BY expires_at LIMIT $5) `+tx.Driver().SkipLocked()+`)
				AND status = 'PENDING' AND transaction_id IS NULL AND refresh_next_at <= $2
			RETURNING `+quoteColumns+`, `+refreshDomainSQL(tx.Driver(), "uma_quotes"), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			var err error
			if c.Quote, err = scanQuote(claimsOf{rows, &c.domain}); err != nil {
				return err
			}
			due = append(due, c)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("claim quotes to refresh: %w", err)
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for _, c := range due {
		q := c.Quote
		run.running[q.ID] = c.domain
		run.wg.Go(func() {
			ok := s.refreshQuote(ctx, q, now, claimEnd(store.Micros(now), store.Micros(q.ExpiresAt), lease))
			run.mu.Lock()
			defer run.mu.Unlock()
			delete(run.running, q.ID)
			if ok {
				run.refreshed++
			}
		})
	}
	return nil
}

// refreshQuote gives q, claimed at claimed until lease (its claimEnd), new
// terms, and reports whether it wrote them.
func (s *Service) refreshQuote(ctx context.Context, q Quote, claimed time.Time, lease int64) bool {
	// Bounded within the lease: a write after the lease ended could race
	// another process's claim (it would still be conditional on the
	// payment hash, so at worst that process's payreq is wasted).
	actx, cancel := context.WithTimeout(ctx, s.refreshLease()-5*time.Second)
	defer cancel()
	now := s.stamp()
	nq, details, err := s.quoteTerms(actx, q.Request, q.ID, q.CreatedAt, now)
	if err != nil {
		s.refreshes.WithLabelValues(refreshFailed).Inc()
		// A quote is tried every pass until its invoice expires, so a
		// receiver down or our rates stale would repeat this every 5 s
		// for each held quote: a warning when a quote first meets a
		// trouble (its code), then hourly; the metric counts them all.
		e := vaspd.AsError(err)
		level := slog.LevelDebug
		if ctx.Err() == nil && s.refreshNoted.due("terms "+q.ID+" "+e.Code, s.clock.Now(), lookupLogEvery) {
			level = slog.LevelWarn
		} // else stopping: the attempt was cut, not refused
		s.log.Log(ctx, level, "auto-refresh quote: no new terms; the quote keeps its own, tried again next pass until its invoice expires",
			"quote", q.ID, "status", e.Status, "code", e.Code, "err", err, "expires_at", q.ExpiresAt)
		s.releaseRefresh(ctx, q.ID, claimed, lease)
		return false
	}
	// The receiver's new price is bounded by the terms the platform was
	// shown (refresh_bound.go).
	if was, got := q.refreshBound(), nq.amounts(); !refreshAllowed(q.LockedSide, was, got, s.opt.QuoteRefreshMaxChangeBps) {
		s.refuseRefresh(actx, q, was, got)
		return false
	}
	// In a transaction, as every write of ours on SQLite: it queues on
	// the process's writer lock rather than on SQLite's busy wait holding
	// a pooled connection.
	var n int64
	err = s.db.InTx(context.WithoutCancel(actx), func(tx *store.Tx) error {
		res, err := tx.ExecContext(actx, `UPDATE uma_quotes SET sending_amount = $1, fee = $2, receiving_amount = $3,
			msats = $4, invoice = $5, payment_hash = $6, details = $7, expires_at = $8, refreshed_at = $9, updated_at = $9,
			refresh_count = refresh_count + 1, refresh_next_at = 0
			WHERE id = $10 AND status = $11 AND transaction_id IS NULL AND payment_hash = $12 AND expires_at > $13`,
			nq.SendingAmount, nq.Fee, nq.ReceivingAmount, nq.Msats, nq.Invoice, nq.PaymentHash, details,
			store.Micros(nq.ExpiresAt), store.Micros(now), q.ID, QuotePending, q.PaymentHash, store.Micros(s.stamp()))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		s.refreshes.WithLabelValues(refreshFailed).Inc()
		s.log.Warn("auto-refresh quote: new terms not recorded; the quote keeps its own, tried again once its lease ends",
			"quote", q.ID, "err", err)
		return false
	}
	if n == 0 {
		// Executed, refreshed by a process whose lease outlived ours, or
		// expired, since it was claimed: the receiver's new invoice is left
		// unpaid. An expired quote stays so: the platform may have been
		// told (GET, an execute's QUOTE_EXPIRED), and EXPIRED is final.
		s.refreshes.WithLabelValues(refreshSuperseded).Inc()
		s.log.Info("auto-refresh quote: executed, changed or expired while refreshed; its terms are left as they are", "quote", q.ID)
		return false
	}
	s.refreshes.WithLabelValues(refreshRefreshed).Inc()
	s.log.Debug("auto-refresh quote: new terms", "quote", q.ID, "expires_at", nq.ExpiresAt, "refresh_count", q.RefreshCount+1)
	return true
}

// releaseRefresh makes the quote q, whose refresh failed, due again a
// pass after its claim: if this process still holds it (refresh_next_at
// is still lease). On a short context of its own, ctx may have ended; if
// it fails, the lease ends.
func (s *Service) releaseRefresh(ctx context.Context, id string, claimed time.Time, lease int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE uma_quotes SET refresh_next_at = $1 WHERE id = $2 AND refresh_next_at = $3`,
			store.Micros(claimed.Add(s.opt.QuoteRefreshEvery)), id, lease)
		return err
	})
	if err != nil {
		s.log.Warn("auto-refresh quote: cannot hand it back; it is due again when its lease ends", "quote", id, "err", err)
	}
}

// refuseRefresh leaves q's terms as they are, the new ones (got) being
// worse for our user than its bound (was) by more than the tolerance, and
// stops its auto-refresh: its receiver would price it alike a pass later,
// a payreq (and its approval webhook) every 5 s until the invoice expires,
// which it does within the refresh lead. The quote then says autoRefresh
// false; the platform may still execute it at its terms, or make a new
// quote with POST /quotes/{id}/refresh. The receiver's new invoice is left
// unpaid. Conditional on q's terms and state as read: a quote executed or
// refreshed meanwhile is left as it is (superseded).
func (s *Service) refuseRefresh(ctx context.Context, q Quote, was, got quoteAmounts) {
	var n int64
	// Not cut short by the attempt's end: the statement and its
	// transaction share one context that does not end.
	ctx = context.WithoutCancel(ctx)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE uma_quotes SET auto_refresh = FALSE, auto_refresh_stopped = $5, refresh_next_at = 0, updated_at = $1
			WHERE id = $2 AND status = $3 AND transaction_id IS NULL AND payment_hash = $4`,
			store.Micros(s.stamp()), q.ID, QuotePending, q.PaymentHash, RefreshStoppedPriceChanged)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		s.refreshes.WithLabelValues(refreshSuperseded).Inc()
		s.log.Info("auto-refresh quote: executed or changed while refreshed; its terms are left as they are", "quote", q.ID)
		return
	}
	s.refreshes.WithLabelValues(refreshRefusedPrice).Inc()
	attrs := []any{"quote", q.ID, "locked_side", q.LockedSide,
		"sending_currency", q.SendingCurrency, "was_debit", was.Debit, "new_debit", got.Debit,
		"receiving_currency", q.ReceivingCurrency, "was_credit", was.Credit, "new_credit", got.Credit,
		"max_change_bps", s.opt.QuoteRefreshMaxChangeBps, "first_terms", q.initial != nil}
	if err != nil {
		// The terms stand; the quote is taken again when its lease ends,
		// and refused again.
		s.log.Warn("auto-refresh quote: new terms refused, worse for the sender than the quote's by more than quote-refresh-max-change-bps; its auto-refresh could not be stopped",
			append(attrs, "err", err)...)
		return
	}
	s.log.Warn("auto-refresh quote: new terms refused, worse for the sender than the quote's by more than quote-refresh-max-change-bps; the quote keeps its terms and no longer auto-refreshes",
		attrs...)
}
