package vasp_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// debugLog is a service option that logs everything, debug included,
// as JSON into logs.
func debugLog(logs *syncBuffer) func(*vasp.Options) {
	return func(o *vasp.Options) {
		o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// renameTable renames a table of db, to make the queries of it fail as a
// database that cannot answer them does.
func renameTable(t *testing.T, db *store.DB, from, to string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `ALTER TABLE `+from+` RENAME TO `+to); err != nil {
		t.Fatal(err)
	}
}

// The resolver's query for payments in flight, failing every round (2 s)
// while the database cannot answer it, is logged as a warning when it
// first fails and then once every 5 minutes while it keeps failing, at
// debug level in between; the first round whose query succeeds says the
// failure is over, and the next failure is news again.
func TestResolverLogsAFailingDatabaseOncePerOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		node := &switchTrackNode{Node: w.node} // every payment in flight
		s := w.service(t, func(o *vasp.Options) { o.Node = node; debugLog(&logs)(o) })
		stuckOutgoing(t, w, s, 2)
		w.clock.Advance(time.Hour)

		const find = "find payments in flight"
		renameTable(t, db, "uma_transactions", "uma_transactions_away")
		for range 120 { // four minutes of rounds
			s.ResolveOutgoing(t.Context())
			w.clock.Advance(2 * time.Second)
		}
		if n := logs.count(t, slog.LevelWarn, find); n != 1 {
			t.Fatalf("four minutes of rounds whose query fails logged %d warnings, want 1:\n%s", n, logs.b.String())
		}
		if n := logs.count(t, slog.LevelDebug, find); n < 120 {
			t.Fatalf("%d of the 120 failed queries logged at debug level", n)
		}
		w.clock.Advance(time.Minute)
		s.ResolveOutgoing(t.Context())
		if n := logs.count(t, slog.LevelWarn, find); n != 2 {
			t.Fatalf("five minutes into the failure %d warnings in all, want 2", n)
		}

		renameTable(t, db, "uma_transactions_away", "uma_transactions")
		for range 3 {
			s.ResolveOutgoing(t.Context())
			w.clock.Advance(2 * time.Second)
		}
		if n := logs.count(t, slog.LevelInfo, "answers again"); n != 1 {
			t.Fatalf("the end of the failure logged %d times, want 1:\n%s", n, logs.b.String())
		}
		if n := logs.count(t, slog.LevelWarn, find); n != 2 {
			t.Fatalf("rounds whose query succeeds logged warnings: %d in all, want 2", n)
		}

		renameTable(t, db, "uma_transactions", "uma_transactions_away")
		s.ResolveOutgoing(t.Context())
		renameTable(t, db, "uma_transactions_away", "uma_transactions")
		if n := logs.count(t, slog.LevelWarn, find); n != 3 {
			t.Fatalf("a second failure logged %d warnings in all, want 3", n)
		}
	})
}

// The sweep's query for PENDING payments failing is logged as the
// resolver's is: a warning when it starts, every 5 minutes while it
// lasts, and a line when it ends; not a warning every sweep (15 s).
func TestSweepLogsAFailingDatabaseOncePerOutage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		s := w.service(t, debugLog(&logs))

		const find = "sweep pending payments"
		renameTable(t, db, "uma_transactions", "uma_transactions_away")
		for range 16 { // four minutes of sweeps
			s.SweepPending(t.Context())
			w.clock.Advance(15 * time.Second)
		}
		if n := logs.count(t, slog.LevelWarn, find); n != 1 {
			t.Fatalf("four minutes of sweeps whose query fails logged %d warnings, want 1:\n%s", n, logs.b.String())
		}
		w.clock.Advance(time.Minute)
		s.SweepPending(t.Context())
		if n := logs.count(t, slog.LevelWarn, find); n != 2 {
			t.Fatalf("five minutes into the failure %d warnings in all, want 2", n)
		}
		renameTable(t, db, "uma_transactions_away", "uma_transactions")
		s.SweepPending(t.Context())
		s.SweepPending(t.Context())
		if n := logs.count(t, slog.LevelInfo, "answers again"); n != 1 {
			t.Fatalf("the end of the failure logged %d times, want 1:\n%s", n, logs.b.String())
		}
	})
}

// finalTrackNode is the real node whose TrackPayment reports every
// payment failed.
type finalTrackNode struct{ lightning.Node }

func (finalTrackNode) TrackPayment(_ context.Context, h lightning.Hash) (lightning.Payment, error) {
	return lightning.Payment{PaymentHash: h, Status: lightning.StatusFailed, FailureReason: "NO_ROUTE"}, nil
}

// A payment whose final state the node reports but whose booking fails
// (here: its reservation is missing, so releasing it overdraws the hold)
// stays PROCESSING and is booked again each round (2 s); that is logged
// as a warning naming it once an hour, at debug level in between, not a
// warning per payment per round.
func TestResolverLogsAPaymentItCannotBookOncePerHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		s := w.service(t, func(o *vasp.Options) { o.Node = finalTrackNode{Node: w.node}; debugLog(&logs)(o) })
		stuckOutgoing(t, w, s, 2) // PROCESSING, nothing reserved
		ps := paymentsIn(t, db, vasp.Outgoing)
		w.clock.Advance(time.Hour)

		const book = "book payment"
		for range 60 { // two minutes of rounds
			s.ResolveOutgoing(t.Context())
			w.clock.Advance(2 * time.Second)
		}
		for _, p := range ps {
			if n := logs.count(t, slog.LevelWarn, `"transaction":"`+p.id+`"`); n != 1 {
				t.Fatalf("two minutes of rounds failing to book payment %s logged %d warnings naming it, want 1:\n%s", p.id, n, logs.b.String())
			}
			if n := logs.count(t, slog.LevelDebug, `"transaction":"`+p.id+`"`); n < 60 {
				t.Fatalf("%d of payment %s's 60 failed bookings logged at debug level", n, p.id)
			}
		}
		if n := logs.count(t, slog.LevelWarn, book); n != 2 {
			t.Fatalf("%d warnings of failed bookings, want one per payment", n)
		}
		w.clock.Advance(time.Hour)
		s.ResolveOutgoing(t.Context())
		if n := logs.count(t, slog.LevelWarn, book); n != 4 {
			t.Fatalf("an hour later %d warnings of failed bookings in all, want 4", n)
		}
		for _, p := range ps {
			if got := statusOf(t, s, p.id); got != vasp.StatusProcessing+"/" {
				t.Fatalf("a payment that cannot be booked is %s; want it left PROCESSING", got)
			}
		}
	})
}

// A payment the resolver sends while the node cannot be reached (its
// outcome is unknown: it stays PROCESSING, and is sent again a pay timeout
// and a margin later, ~35 s) is logged as a warning by the execute that
// left it so and then once an hour while the resolver's sends keep
// failing, at debug level in between, not a warning per send.
func TestResolverLogsAPaymentItCannotSendOncePerHour(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		var logs syncBuffer
		node := &trackOutageNode{Node: h.w.node, stuck: map[lightning.Hash]bool{}, answer: -1}
		const payTimeout = 20 * time.Second
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = node, payTimeout; debugLog(&logs)(o) })
		node.setPayDown(true)
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			t.Fatalf("execute with the node down: %s %v, want %s", tr.Status, err, vasp.StatusProcessing)
		}
		const unknown = "payment outcome unknown"
		if n := logs.count(t, slog.LevelWarn, unknown); n != 1 {
			t.Fatalf("the execute logged %d warnings of an unknown outcome, want 1:\n%s", n, logs.b.String())
		}

		for range 300 { // ten minutes of rounds, a send every 25 s
			s.ResolveOutgoing(t.Context())
			h.w.clock.Advance(2 * time.Second)
		}
		if n := logs.count(t, slog.LevelDebug, unknown); n < 15 {
			t.Fatalf("ten minutes of rounds sent the payment %d times, want more than 15:\n%s", n-1, logs.b.String())
		}
		if n := logs.count(t, slog.LevelWarn, unknown); n != 1 {
			t.Fatalf("ten minutes of sends with the node unreachable logged %d warnings, want the execute's alone:\n%s", n, logs.b.String())
		}
		h.w.clock.Advance(time.Hour)
		s.ResolveOutgoing(t.Context())
		if n := logs.count(t, slog.LevelWarn, unknown); n != 2 {
			t.Fatalf("an hour later %d warnings in all, want 2", n)
		}
		if got := statusOf(t, s, tr.ID); got != vasp.StatusProcessing+"/" {
			t.Fatalf("a payment whose sends fail is %s; want PROCESSING", got)
		}

		// The node is back: the next send ends it.
		node.setPayDown(false)
		h.w.clock.Advance(time.Minute)
		s.ResolveOutgoing(t.Context())
		if got := statusOf(t, s, tr.ID); got == vasp.StatusProcessing+"/" {
			t.Fatalf("with the node back the payment is still %s", got)
		}
		if n := logs.count(t, slog.LevelInfo, "outgoing payment finished"); n != 1 {
			t.Fatalf("the payment's end logged %d times, want 1", n)
		}
	})
}
