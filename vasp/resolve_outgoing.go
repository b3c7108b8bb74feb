package vasp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
)

// The resolver: outgoing payments whose execute did not see the end (the
// node still sending, or the process gone) are finished here, once.

// resolveOutgoing finishes payments left PROCESSING: in flight when Pay
// returned, or never sent because the process died after reserving.
func (s *Service) resolveOutgoing(ctx context.Context) {
	for vaspd.Sleep(ctx, 2*time.Second) {
		s.resolveOutgoingRound(ctx)
	}
}

// resolveBatch is how many payments one resolver round looks up.
const resolveBatch = 100

// resolveOutgoingRound looks up the next batch of payments left
// PROCESSING. Rounds walk the payments by id and start over after the
// last: payments that stay in flight for days (a stuck HTLC) must not keep
// the resolver from those behind them, as a batch always taken from the
// first would.
//
// A round stops at the first lookup that finds the node unreachable
// (lightning.ErrUnavailable): every lookup after it would fail alike, each
// maybe only after the node client's timeout (lnd's 30 s), so going on
// would call an unreachable node up to resolveBatch times a round, up to
// 50 minutes, and move the cursor past every payment it could not look
// up. The next round resumes at the payment whose lookup failed, so none
// behind it is skipped. Unless the node is unreachable for that payment
// alone: rounds that keep stopping at it probe past it, and pass it over
// if the node answers the next (see walk). A round also stops at its time
// limit (walkLimit), to resume there.
//
// Lookups that fail are logged without flooding the log (a round runs
// every 2 s): see lookupFailure; so are the round's query failing
// (noteFindFailures) and payments it cannot claim, send or book
// (noteOutgoing).
//
// Rounds are exclusive (resolveMu): one started during another waits for
// it and goes on from where it stopped, rather than taking the same batch,
// looking up the same payments at once and racing it for the cursor.
func (s *Service) resolveOutgoingRound(ctx context.Context) {
	s.resolveMu.Lock()
	defer s.resolveMu.Unlock()
	cutoff := store.Micros(s.clock.Now().Add(-s.opt.PayTimeout - resolveMargin))
	from := s.resolveAfter
	rows, err := s.db.QueryContext(ctx, `SELECT `+txColumns+` FROM uma_transactions
		WHERE direction = $1 AND status = $2 AND updated_at < $3 AND id > $4 ORDER BY id LIMIT $5`,
		Outgoing, StatusProcessing, cutoff, from, resolveBatch)
	if err != nil {
		s.noteFindFailures(ctx, &s.resolveFind, resolveFinding, []findFailure{{"find payments in flight", err}})
		return
	}
	var stuck []Transaction
	var findFailed []findFailure
	n := 0
	for rows.Next() {
		n++
		t, err := scanTransaction(rows)
		if err != nil {
			findFailed = append(findFailed, findFailure{"find payments in flight: read row", err})
			continue
		}
		stuck = append(stuck, t)
	}
	rerr := rows.Err()
	rows.Close()
	if rerr != nil {
		findFailed = append(findFailed, findFailure{"find payments in flight: read", rerr})
	}
	s.noteFindFailures(ctx, &s.resolveFind, resolveFinding, findFailed)
	switch {
	case rerr != nil:
		// A read that broke off: the next round starts over from the first.
		s.resolveAfter = ""
	case n == resolveBatch && len(stuck) > 0:
		s.resolveAfter = stuck[len(stuck)-1].ID
	default:
		s.resolveAfter = "" // the end: next round from the first
	}
	// stop ends the round before stuck[i], which the next round looks up
	// first.
	stop := func(i int) {
		if i > 0 {
			s.resolveAfter = stuck[i-1].ID
		} else {
			s.resolveAfter = from // this round dealt with none
		}
	}
	ids := make([]string, len(stuck))
	for i, t := range stuck {
		ids[i] = t.ID
	}
	w := s.newWalk(ctx, &s.resolveLookups, ids)
	defer w.end(ctx, resolveLookupLines, "resolve outgoing payments")
	for i, t := range stuck {
		if at, ok := w.due(i); !ok {
			stop(at)
			return
		}
		hash, err := lightning.ParseHash(t.PaymentHash)
		if err != nil {
			w.failed = append(w.failed, lookupFailure{id: t.ID, hash: t.PaymentHash, err: err})
			continue
		}
		p, err := s.opt.Node.TrackPayment(w.ctx, hash)
		if err != nil && ctx.Err() != nil {
			stop(w.resume(i))
			return // stopping: the lookup was cut, not refused
		}
		if err, down := w.unreachable(err); down {
			if at := w.unavailable(i, lookupFailure{id: t.ID, hash: t.PaymentHash, err: err, unreachable: true}); at >= 0 {
				stop(at)
				return
			}
			continue
		}
		w.answered(i)
		if errors.Is(err, lightning.ErrNotFound) {
			// Reserved but never sent: send it now (or fail it, once
			// expired) — if no other resolver has taken it since we read
			// it. A node pays a FAILED payment again when asked, so two
			// processes sending it could book the first send's failure
			// (releasing the money to the user) and then pay it out with
			// the second.
			claimed, ok, err := s.claimSend(ctx, t)
			if err != nil {
				s.noteOutgoing(ctx, "claim", t, "claim payment to send; left PROCESSING, claimed again next round", err)
				continue
			} else if !ok {
				continue
			}
			t.UpdatedAt = claimed // pay's deadline runs from the claim (sendContext)
			_, _ = s.pay(ctx, t)
			continue
		}
		if err != nil {
			w.failed = append(w.failed, lookupFailure{id: t.ID, hash: t.PaymentHash, err: err})
			continue
		}
		if _, err := s.finish(ctx, t, p, nil); err != nil {
			s.noteOutgoing(ctx, "book", t, "book payment: the node's final answer could not be booked; left PROCESSING, booked again next round", err,
				"node_status", p.Status)
		}
	}
	w.finish()
}

// noteOutgoing logs err, which left the outgoing payment t PROCESSING for
// the resolver to try again (a round every 2 s, a send every pay timeout
// and margin), as msg: as a warning the first time this process meets
// this trouble (kind: "claim", "send", "book") of t, then once every
// lookupLogEvery while it lasts, at debug level in between. The payment's
// end is logged when it is booked ("outgoing payment finished").
func (s *Service) noteOutgoing(ctx context.Context, kind string, t Transaction, msg string, err error, attrs ...any) {
	level := slog.LevelDebug
	if s.outgoingNoted.due(kind+" "+t.ID, s.clock.Now(), lookupLogEvery) {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, msg, append([]any{"transaction", t.ID, "err", err}, attrs...)...)
}

// claimSend takes t, read PROCESSING by a resolver round, for that round
// to send: its updated_at moves to now only if nothing changed the row
// since it was read, so of the resolvers that read it (one per process)
// one sends it, and the others leave it to that one. The move also keeps
// later rounds off it for a pay timeout, while that send runs.
func (s *Service) claimSend(ctx context.Context, t Transaction) (updatedAt time.Time, ok bool, err error) {
	now := s.clock.Now()
	res, err := s.db.ExecContext(ctx, `UPDATE uma_transactions SET updated_at = $1
		WHERE id = $2 AND status = $3 AND updated_at = $4`,
		store.Micros(now), t.ID, StatusProcessing, store.Micros(t.UpdatedAt))
	if err != nil {
		return time.Time{}, false, err
	}
	n, err := res.RowsAffected()
	return store.Time(store.Micros(now)), n == 1, err
}
