package vasp_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
)

// lookupLogging is a walker of payments (the sweep of PENDING incoming
// payments, the resolver of outgoing ones in flight) whose failed node
// lookups are checked for being logged, by checkLookupLogging, without
// flooding the log.
type lookupLogging struct {
	walk    func()        // one sweep or round
	every   time.Duration // how often the walker runs
	set     func(error)   // what the node's lookup answers (nil: the real answer)
	client  string        // how the node's client prefixes its errors ("lnd track")
	between func(i int)   // run after walk i of the first outage, if not nil
	// ids and hashes of the two payments whose lookups fail, the first by
	// id first (each walk starts with it).
	first, second         string
	firstHash, secondHash string
	left                  string // the state failing payments are left in (PENDING, PROCESSING)
}

// checkLookupLogging walks two minutes with the node unreachable, then
// with the node answering values out of range, then with a stored payment
// hash that does not parse, and checks what was logged each time: one
// warning per outage (and once an hour while it lasts), each bad answer an
// error naming its payment once an hour, every failure at debug level, and
// the payments left as they were.
func checkLookupLogging(t *testing.T, w *world, db *store.DB, logs *syncBuffer, c lookupLogging, state func(id string) string) {
	t.Helper()
	walks := int(2 * time.Minute / c.every)
	walkFor := func(n int) {
		for range n {
			c.walk()
			w.clock.Advance(c.every)
		}
	}

	const unreachable = "could not be reached"
	c.set(fmt.Errorf("%s: %w: dial tcp: connection refused", c.client, lightning.ErrUnavailable))
	for i := range walks {
		c.walk()
		if c.between != nil {
			c.between(i)
		}
		w.clock.Advance(c.every)
	}
	if n := logs.count(t, slog.LevelWarn, unreachable); n != 1 {
		t.Fatalf("two minutes of walks with the node unreachable logged %d warnings, want 1:\n%s", n, logs.b.String())
	}
	if n := logs.count(t, slog.LevelWarn, `"count":2`); n != 1 {
		t.Fatalf("the warning does not count the 2 payments left %s:\n%s", c.left, logs.b.String())
	}
	if n := logs.count(t, slog.LevelWarn, c.firstHash) + logs.count(t, slog.LevelWarn, c.secondHash); n != 1 {
		t.Fatalf("an unreachable node logged %d lines at warning level naming a payment; want the one warning", n)
	}
	// Each walk stops at its first lookup (the one of the payment first
	// by id) and names it at debug level.
	if n := logs.count(t, slog.LevelDebug, c.firstHash); n < walks {
		t.Fatalf("%d of the first payment's %d failed lookups logged at debug level", n, walks)
	}
	w.clock.Advance(time.Hour)
	c.walk()
	if n := logs.count(t, slog.LevelWarn, unreachable); n != 2 {
		t.Fatalf("an hour into the outage %d warnings in all, want 2", n)
	}
	// The node is back; a later outage is news again.
	c.set(nil)
	c.walk()
	c.set(fmt.Errorf("%s: %w: context deadline exceeded", c.client, lightning.ErrUnavailable))
	c.walk()
	if n := logs.count(t, slog.LevelWarn, unreachable); n != 3 {
		t.Fatalf("a second outage logged %d warnings in all, want 3", n)
	}

	// lnd answers the lookup with an amount out of range.
	const bad = "lnd: field value_msat: -1000 out of range"
	c.set(errors.New(bad))
	walkFor(walks)
	if n := logs.count(t, slog.LevelWarn, bad); n != 1 {
		t.Fatalf("two minutes of walks failing on lnd's answers logged %d lines at warning level or above, want 1 error:\n%s", n, logs.b.String())
	}
	if n := logs.count(t, slog.LevelError, bad); n != 1 {
		t.Fatalf("two minutes of walks failing on lnd's answers logged %d errors, want 1", n)
	}
	for _, h := range []string{c.firstHash, c.secondHash} {
		if n := logs.count(t, slog.LevelError, h); n != 1 {
			t.Fatalf("payment %s is named in %d errors, want 1", h, n)
		}
	}
	w.clock.Advance(time.Hour)
	c.walk()
	if n := logs.count(t, slog.LevelError, bad); n != 2 {
		t.Fatalf("an hour later %d errors in all, want 2", n)
	}
	for _, id := range []string{c.first, c.second} {
		if got := state(id); got != c.left+"/" {
			t.Fatalf("a payment whose lookup fails is %s; want it left %s", got, c.left)
		}
	}

	// A stored payment hash that is no hash cannot be looked up at all.
	c.set(nil)
	if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET payment_hash = 'not-a-hash' WHERE id = $1`, c.first); err != nil {
		t.Fatal(err)
	}
	walkFor(walks / 2)
	if n := logs.count(t, slog.LevelError, "not-a-hash"); n != 1 {
		t.Fatalf("a payment whose stored hash does not parse is named in %d errors, want 1:\n%s", n, logs.b.String())
	}
	if n := logs.count(t, slog.LevelError, `"transaction":"`+c.first+`","payment_hash":"not-a-hash"`); n != 1 {
		t.Fatalf("the error does not name transaction %s:\n%s", c.first, logs.b.String())
	}
}
