package vasp_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// trackOutageNode is the real node whose TrackPayment, while the node is
// down, takes delay and fails with lightning.ErrUnavailable, as lnd's does
// when lnd cannot be reached (each up to the client's timeout). answer is
// how many lookups are still answered before it goes down: 0 down, < 0
// never. Payments in stuck (set before the resolver runs) are reported in
// flight, as lnd does for a stuck HTLC. With payDown, Pay fails before
// reaching the node. It records the payment hashes it was asked about.
type trackOutageNode struct {
	lightning.Node
	delay time.Duration
	stuck map[lightning.Hash]bool

	mu      sync.Mutex
	answer  int
	payDown bool
	asked   []string
}

func (n *trackOutageNode) set(answer int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answer = answer
}

func (n *trackOutageNode) setPayDown(down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.payDown = down
}

// lookups are the payment hashes asked about since the last call.
func (n *trackOutageNode) lookups() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.asked
	n.asked = nil
	return a
}

func (n *trackOutageNode) Pay(ctx context.Context, req lightning.PayRequest) (lightning.Payment, error) {
	n.mu.Lock()
	down := n.payDown
	n.mu.Unlock()
	if down {
		return lightning.Payment{}, fmt.Errorf("lnd getinfo: %w: connection refused", lightning.ErrUnavailable)
	}
	return n.Node.Pay(ctx, req)
}

func (n *trackOutageNode) TrackPayment(ctx context.Context, h lightning.Hash) (lightning.Payment, error) {
	n.mu.Lock()
	n.asked = append(n.asked, h.String())
	down := n.answer == 0
	if n.answer > 0 {
		n.answer--
	}
	n.mu.Unlock()
	if down {
		time.Sleep(n.delay)
		return lightning.Payment{}, fmt.Errorf("lnd track: %w: %w", lightning.ErrUnavailable, context.DeadlineExceeded)
	}
	if n.stuck[h] {
		return lightning.Payment{PaymentHash: h, Status: lightning.StatusInFlight}, nil
	}
	return n.Node.TrackPayment(ctx, h)
}

// stuckOutgoing records n PROCESSING outgoing payments of alice's whose
// node payments are in flight for good (stuck HTLCs, as node reports
// them), returning their payment hashes.
func stuckOutgoing(t *testing.T, w *world, s *vasp.Service, n int) []lightning.Hash {
	t.Helper()
	now := w.clock.Now()
	var hs []lightning.Hash
	for range n {
		var hash lightning.Hash
		_, _ = rand.Read(hash[:])
		tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Outgoing, Status: vasp.StatusProcessing,
			UserID: w.alice.UserID, QuoteID: vaspd.NewID(vaspd.IDQuote), PaymentHash: hash.String(), Invoice: "lnbcrt1",
			Currency: "USD", Amount: 10, Msats: 10_000, CreatedAt: now, UpdatedAt: now}
		if err := s.InsertTransaction(t.Context(), tr); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, hash)
	}
	return hs
}

// A resolver round stops at the first payment lookup that finds the node
// unreachable: with lnd down or hanging, each lookup can take lnd's whole
// timeout (30 s), and a round going on through its batch (100 lookups)
// would call the node for every one of them, up to 50 minutes a round,
// and move its cursor past them all. The next round resumes at the
// payment whose lookup failed, so once the node is back every payment is
// looked up, those behind the stop included, and the one never sent is
// sent and booked.
func TestResolverStopsWhileTheNodeIsUnreachable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		node := &trackOutageNode{Node: h.w.node, delay: 20 * time.Millisecond, stuck: map[lightning.Hash]bool{}, answer: -1}
		// The resolver sends the unsent payment with Pay, which waits up to
		// the pay timeout, in real time: long enough for a loaded machine.
		const payTimeout = 20 * time.Second
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = node, payTimeout })
		const n = 6
		for _, hash := range stuckOutgoing(t, h.w, s, n-1) {
			node.stuck[hash] = true
		}
		// The last one is reserved but never sent: the node was down at
		// execute.
		node.setPayDown(true)
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			t.Fatalf("execute with the node down: %s %v, want %s", tr.Status, err, vasp.StatusProcessing)
		}
		node.setPayDown(false)
		ps := paymentsIn(t, db, vasp.Outgoing)
		if len(ps) != n || ps[n-1].id != tr.ID {
			t.Fatalf("outgoing payments %v; want %d, the unsent one last", ps, n)
		}
		h.w.clock.Advance(payTimeout + time.Minute) // the resolver looks at payments in flight a while
		node.lookups()

		// The node is down: a round makes one lookup, not one per payment.
		node.set(0)
		for i := range 2 {
			s.ResolveOutgoing(t.Context())
			if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:1])) {
				t.Fatalf("round %d with the node unreachable looked up %d payments %v; want the first alone, %v", i+1, len(got), got, hashesOf(ps[:1]))
			}
		}

		// The node answers two lookups and is down again: the round stops
		// at the third.
		node.set(2)
		s.ResolveOutgoing(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:3])) {
			t.Fatalf("the round looked up %v; want the first three, %v, the third failing", got, hashesOf(ps[:3]))
		}

		// The node is back: the next round resumes at the payment whose
		// lookup failed and goes on to the end, sending the unsent one.
		node.set(-1)
		s.ResolveOutgoing(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[2:])) {
			t.Fatalf("with the node back the round looked up %v; want from the third on, %v", got, hashesOf(ps[2:]))
		}
		if got := statusOf(t, s, tr.ID); got != vasp.StatusCompleted+"/" {
			t.Fatalf("the unsent payment behind the stop is %s, want COMPLETED", got)
		}
		for _, p := range ps[:n-1] {
			if got := statusOf(t, s, p.id); got != vasp.StatusProcessing+"/" {
				t.Fatalf("payment %s in flight is %s, want PROCESSING", p.id, got)
			}
		}
		if got, want := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"), int64(100_000)-q.SendingAmount; got != want {
			t.Errorf("alice's balance is %d, want %d: paid once", got, want)
		}

		// The next round starts over from the first.
		s.ResolveOutgoing(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:n-1])) {
			t.Fatalf("the round after the end looked up %v; want from the first, %v", got, hashesOf(ps[:n-1]))
		}
	})
}

// trackInFlightNode is the real node whose TrackPayment takes a little
// while and records how many lookups were ever in flight at once.
// Payments in stuck (set before the resolver runs) are reported in flight.
type trackInFlightNode struct {
	lightning.Node
	stuck    map[lightning.Hash]bool
	mu       sync.Mutex
	now, max int
}

func (n *trackInFlightNode) TrackPayment(ctx context.Context, h lightning.Hash) (lightning.Payment, error) {
	n.mu.Lock()
	n.now++
	n.max = max(n.max, n.now)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.now--
		n.mu.Unlock()
	}()
	time.Sleep(5 * time.Millisecond)
	if n.stuck[h] {
		return lightning.Payment{PaymentHash: h, Status: lightning.StatusInFlight}, nil
	}
	return n.Node.TrackPayment(ctx, h)
}

// Resolver rounds are exclusive: one run by hand (as tests do, with Run's
// loop resolving as well) waits for the one under way, and they share the
// cursor of the next round safely (run under -race). The payment left
// unsent is sent and booked once.
func TestConcurrentResolverRounds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		node := &trackInFlightNode{Node: h.w.node, stuck: map[lightning.Hash]bool{}}
		down := &lostAnswerNode{Node: node, down: true}
		const payTimeout = 20 * time.Second
		s := h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = down, payTimeout })
		for _, hash := range stuckOutgoing(t, h.w, s, 5) {
			node.stuck[hash] = true
		}
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			t.Fatalf("execute with the node down: %s %v, want %s", tr.Status, err, vasp.StatusProcessing)
		}
		s = h.w.service(t, func(o *vasp.Options) { o.Node, o.PayTimeout = node, payTimeout })
		h.w.clock.Advance(payTimeout + time.Minute)

		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				<-start
				for range 3 {
					s.ResolveOutgoing(t.Context())
				}
			})
		}
		close(start)
		wg.Wait()

		if node.max != 1 {
			t.Errorf("%d payment lookups in flight at once; want rounds one at a time", node.max)
		}
		if got := statusOf(t, s, tr.ID); got != vasp.StatusCompleted+"/" {
			t.Fatalf("the unsent payment is %s, want COMPLETED", got)
		}
		if got, want := balance(t, db, ledger.UserAccount(h.w.alice.UserID), "USD"), int64(100_000)-q.SendingAmount; got != want {
			t.Errorf("alice's balance is %d, want %d: paid once", got, want)
		}
		if got := balance(t, db, ledger.HoldAccount(h.w.alice.UserID), "USD"); got != 0 {
			t.Errorf("alice's hold is %d, want 0", got)
		}
	})
}

// slowStuckNode is the real node whose TrackPayment takes a while and
// reports every payment in flight. It keeps no state: rounds running at
// once synchronise through nothing of the test's, so the race detector
// sees what they share unguarded.
type slowStuckNode struct{ lightning.Node }

func (slowStuckNode) TrackPayment(_ context.Context, h lightning.Hash) (lightning.Payment, error) {
	time.Sleep(2 * time.Millisecond)
	return lightning.Payment{PaymentHash: h, Status: lightning.StatusInFlight}, nil
}

// The cursor of the next resolver round is shared safely by rounds
// started at once (a data race under -race otherwise).
func TestConcurrentResolverRoundsShareTheCursor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.Node = slowStuckNode{Node: w.node} })
		stuckOutgoing(t, w, s, 4)
		w.clock.Advance(time.Hour)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					s.ResolveOutgoing(t.Context())
				}
			})
		}
		wg.Wait()
		for _, p := range paymentsIn(t, db, vasp.Outgoing) {
			if got := statusOf(t, s, p.id); got != vasp.StatusProcessing+"/" {
				t.Fatalf("payment %s in flight is %s, want PROCESSING", p.id, got)
			}
		}
	})
}

// switchTrackNode is the real node whose TrackPayment answers the error
// set last, and while none is, reports every payment in flight.
type switchTrackNode struct {
	lightning.Node
	mu  sync.Mutex
	err error
}

func (n *switchTrackNode) set(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.err = err
}

func (n *switchTrackNode) TrackPayment(_ context.Context, h lightning.Hash) (lightning.Payment, error) {
	n.mu.Lock()
	err := n.err
	n.mu.Unlock()
	if err != nil {
		return lightning.Payment{}, err
	}
	return lightning.Payment{PaymentHash: h, Status: lightning.StatusInFlight}, nil
}

// A PROCESSING payment whose lookup keeps failing (lnd answering a value
// out of range, say) stays PROCESSING, its money reserved, as before, but
// is logged as the sweep's are: as an error naming its payment hash, once
// an hour however often the resolver retries (every 2 s), not a warning
// per payment per round. So is a payment whose stored payment hash does
// not parse, which was skipped silently. A node that cannot be reached
// makes one warning for all the payments it fails, when the outage starts
// and once an hour while it lasts (the sweep's lookups, which keep their
// own record, neither end nor hide it).
func TestResolverLogsLookupsThatFail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		node := &switchTrackNode{Node: w.node}
		s := w.service(t, func(o *vasp.Options) {
			o.Node = node
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		stuckOutgoing(t, w, s, 2)
		ps := paymentsIn(t, db, vasp.Outgoing) // by id: each round starts with a
		w.clock.Advance(time.Hour)             // the resolver looks at payments in flight a while
		checkLookupLogging(t, w, db, &logs, lookupLogging{
			walk: func() { s.ResolveOutgoing(t.Context()) }, every: 2 * time.Second, set: node.set,
			client: "lnd track", first: ps[0].id, second: ps[1].id, firstHash: ps[0].hash, secondHash: ps[1].hash,
			left: vasp.StatusProcessing,
			between: func(i int) {
				if i%8 == 0 {
					// Sweeps of the (no) pending incoming payments meet
					// no outage: the resolver's goes on all the same.
					s.SweepPending(t.Context())
				}
			},
		}, func(id string) string { return statusOf(t, s, id) })
	})
}

// A payment in flight whose lookup alone always finds the node
// "unavailable", the node answering every other, does not keep the
// resolver from the payments behind it for good: the rounds that keep
// stopping at it probe past it, find the node up, and pass it over. The
// payment behind it that was reserved but never sent is sent and booked;
// the one passed over stays PROCESSING, is logged as an error naming it,
// and is looked up again by later rounds.
func TestResolverPassesOverAPaymentTheNodeCannotLookUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		q := h.fundedQuote(t)
		inner := &trackOutageNode{Node: h.w.node, stuck: map[lightning.Hash]bool{}, answer: -1}
		node := &badHashNode{Node: inner}
		var logs syncBuffer
		const payTimeout = 20 * time.Second
		s := h.w.service(t, func(o *vasp.Options) {
			o.Node, o.PayTimeout = node, payTimeout
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		const n = 4
		for _, hash := range stuckOutgoing(t, h.w, s, n-1) {
			inner.stuck[hash] = true
		}
		inner.setPayDown(true)
		tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusProcessing {
			t.Fatalf("execute with the node down: %s %v, want %s", tr.Status, err, vasp.StatusProcessing)
		}
		inner.setPayDown(false)
		ps := paymentsIn(t, db, vasp.Outgoing)
		if len(ps) != n || ps[n-1].id != tr.ID {
			t.Fatalf("outgoing payments %v; want %d, the unsent one last", ps, n)
		}
		bad := ps[0]
		node.setBad(bad.hash, true)
		h.w.clock.Advance(payTimeout + time.Minute)

		for range 3 {
			s.ResolveOutgoing(t.Context())
		}
		if got := statusOf(t, s, tr.ID); got != vasp.StatusCompleted+"/" {
			t.Fatalf("the unsent payment behind the one the node cannot look up is %s after 3 rounds, want COMPLETED", got)
		}
		if got := statusOf(t, s, bad.id); got != vasp.StatusProcessing+"/" {
			t.Fatalf("the payment the node cannot look up is %s, want PROCESSING", got)
		}
		if c := logs.count(t, slog.LevelError, "answers other payment lookups but not"); c != 1 {
			t.Fatalf("%d errors of a payment the node cannot look up, want 1:\n%s", c, logs.b.String())
		}
		if c := logs.count(t, slog.LevelError, `"payment_hash":"`+bad.hash+`"`); c != 1 {
			t.Fatalf("the error does not name the payment %s:\n%s", bad.hash, logs.b.String())
		}
		// Later rounds look it up again, and go on past it at once.
		node.lookups()
		s.ResolveOutgoing(t.Context())
		if got := node.lookups(); !slices.Equal(got, hashesOf(ps[:n-1])) {
			t.Fatalf("a later round looked up %v; want %v, the one the node cannot look up included", got, hashesOf(ps[:n-1]))
		}
	})
}
