package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// A wide event — one that more endpoints want than fit in a fan-out chunk —
// is not fanned out in its producer's transaction. That transaction writes
// the event and a webhook_fanouts row naming the endpoints it matched; the
// worker then writes their deliveries, a chunk per transaction of its own.
//
// Why: on SQLite every write transaction of the process queues for the one
// writer, and a delivery row dirties a page of its endpoint's part of the
// queue index. An event to 100 endpoints with a backlog held the writer
// for 3–5 ms, and every other transaction — a payment and its webhook to a
// healthy endpoint — waited behind it (docs/webhook-engine-benchmarks.md,
// round 10). Chunked, the wait is one chunk's, and the chunks run as
// background transactions, which let application transactions go first.
//
// Nothing is lost by deferring: the event and the list of its endpoints
// commit or roll back with the producer's state change, as its deliveries
// did; each chunk's deliveries commit together with the row's progress, so
// a crash between chunks resumes where it stopped, without a duplicate;
// any process's worker picks up a row left by one that died (on PostgreSQL
// each row is taken with SKIP LOCKED, so two never write the same chunk).
// The endpoints are those matched at enqueue, as before; one deleted since
// gets no delivery, as it would have had its pending one dead-lettered.

// fanOutChunkFor is how many deliveries of one event a transaction writes at
// most: on SQLite a handful (≈ 0.3 ms of the writer); on PostgreSQL, whose
// writers do not queue for one another, a whole statement's worth, so only
// events to hundreds of endpoints are deferred there.
func fanOutChunkFor(d store.Driver) int {
	if d.SerializeWrites() {
		return 8
	}
	return deliveriesPerStatement
}

// writeFanOuts records the deferred fan-outs of evs and reports whether
// there was any.
func writeFanOuts(ctx context.Context, tx *store.Tx, evs []bufferedEvent) (bool, error) {
	any := false
	for _, ev := range evs {
		if len(ev.fanOut) == 0 {
			continue
		}
		any = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_fanouts (event_id, endpoints, written, created_at)
			VALUES ($1, $2, 0, $3)`, ev.id, strings.Join(ev.fanOut, ","), ev.createdAt); err != nil {
			return false, fmt.Errorf("delivery: record fan-out of %s: %w", ev.id, err)
		}
	}
	return any, nil
}

// signalFanOut wakes a running fan-out.
func (s *Service) signalFanOut() {
	select {
	case s.fanOutWake <- struct{}{}:
	default:
	}
}

// fanOut writes deferred fan-outs until ctx ends: at once when a
// transaction of this process left one, and every poll interval for those
// other processes left (or one that died left unfinished).
func (s *Service) fanOut(ctx context.Context) {
	poll := time.NewTicker(s.opt.PollInterval)
	defer poll.Stop()
	known := true // look at start: a fan-out may be left from before
	var lastWarn time.Time
	for {
		if known || s.fanOutPending(ctx) {
			// The worker is woken once for what a run of chunks wrote, not
			// after each chunk: every wake costs it a look at the due work
			// of the endpoints named, and most of a wide event's endpoints
			// have their hands full (or are backed off) anyway.
			var woke []string
			for ctx.Err() == nil {
				began := time.Now()
				ids, more, err := s.fanOutStep(ctx)
				woke = append(woke, ids...)
				if err != nil {
					// Retried at the next poll; a database that stays
					// down is logged once a minute, not at every poll.
					if ctx.Err() == nil && time.Since(lastWarn) >= time.Minute {
						s.opt.Log.Warn("webhook fan-out failed; retrying", "err", err)
						lastWarn = time.Now()
					}
					break
				}
				if !more {
					break
				}
				if len(woke) >= fanOutWakeEvery {
					s.wakeFor(woke)
					woke = woke[:0]
				}
				// Pace: rest as long as the chunk took. The fan-out then
				// takes at most about half of the writer and of a CPU, and
				// a wide event does not crowd out, on a small machine, the
				// deliveries already under way (their time from commit to
				// receiver doubled without it in the isolation benchmark).
				if !vaspd.Sleep(ctx, time.Since(began)) {
					break
				}
			}
			if len(woke) > 0 {
				s.wakeFor(woke)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.fanOutWake:
			known = true
		case <-poll.C:
			known = false
		}
	}
}

// fanOutPending reports whether a fan-out may be waiting: a read, so that
// polling an empty table does not take the write lock.
func (s *Service) fanOutPending(ctx context.Context) bool {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM webhook_fanouts LIMIT 1`).Scan(&one)
	return err == nil
}

// fanOutWakeEvery bounds how many deliveries a long run of chunks writes
// before the worker is woken for them.
const fanOutWakeEvery = 256

// fanOutStep writes the deliveries of the next chunk of the oldest
// deferred fan-out, in one transaction with its progress. It returns the
// endpoints it wrote deliveries for, for the caller to wake the worker,
// and whether it found a fan-out (there may be more).
func (s *Service) fanOutStep(ctx context.Context) (woke []string, found bool, err error) {
	err = s.db.InBackgroundTx(ctx, func(tx *store.Tx) error {
		found, woke = false, nil
		var (
			eventID, list    string
			written, created int64
		)
		err := tx.QueryRowContext(ctx, `SELECT event_id, endpoints, written, created_at FROM webhook_fanouts
			ORDER BY created_at, event_id LIMIT 1 `+tx.Driver().SkipLocked()).Scan(&eventID, &list, &written, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read fan-out: %w", err)
		}
		found = true
		ids := strings.Split(list, ",")
		from := int(min(max(written, 0), int64(len(ids))))
		chunk := ids[from:min(from+s.fanOutChunk, len(ids))]
		live, err := undeletedEndpoints(ctx, tx, chunk)
		if err != nil {
			return err
		}
		if len(live) > 0 {
			ev := []bufferedEvent{{id: eventID, createdAt: created, endpoints: live}}
			if err := writeDeliveries(ctx, tx, ev, false, nil); err != nil {
				return err
			}
		}
		if from+len(chunk) >= len(ids) {
			_, err = tx.ExecContext(ctx, `DELETE FROM webhook_fanouts WHERE event_id = $1`, eventID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_fanouts SET written = $2 WHERE event_id = $1`, eventID, from+len(chunk))
		}
		if err != nil {
			return fmt.Errorf("record fan-out progress of %s: %w", eventID, err)
		}
		woke = live
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("delivery: fan-out: %w", err)
	}
	return woke, found, nil
}

// undeletedEndpoints returns those of ids not deleted, in the order of ids.
func undeletedEndpoints(ctx context.Context, tx *store.Tx, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	p := newParams(tx.Driver())
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM webhook_endpoints WHERE deleted_at = 0 AND id IN (`+p.list(len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read fan-out endpoints: %w", err)
	}
	defer rows.Close()
	alive := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		alive[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	live := ids[:0:0]
	for _, id := range ids {
		if alive[id] {
			live = append(live, id)
		}
	}
	return live, nil
}
