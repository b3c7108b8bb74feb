package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// backgroundPatience is how long a background write transaction lets
// foreground ones go first on a driver that serialises writes: once its
// waiter has waited this long, foreground waiters that queued after it no
// longer pass it. Short next to a webhook's delivery latency, long next to a
// short SQLite write transaction, so an application transaction rarely
// waits behind the webhook engine's bookkeeping, and that bookkeeping still
// runs under constant application load.
const backgroundPatience = 2 * time.Millisecond

// writeClass says how a write transaction waits for the write lock.
type writeClass uint8

const (
	// foreground: application transactions ([DB.InTx]); FIFO among
	// themselves, ahead of background waiters that are within their patience.
	foreground writeClass = iota
	// background: work that can wait a little ([DB.InBackgroundTx]).
	background
)

// writeLock serialises write transactions in process (SQLite has one
// writer). It differs from a sync.Mutex in three ways, all for the tail
// latency of application transactions:
//
//   - waiters come in two classes, and a background waiter lets foreground
//     waiters go first until it has waited patience;
//   - unlock hands the lock directly to the chosen waiter, FIFO within a
//     class, so a goroutine that unlocks and locks again (a loop of short
//     transactions) cannot take it back ahead of a woken waiter;
//   - waiting honours a context.
//
// Uncontended, lock and unlock are one compare-and-swap each; the queues,
// the clock and the channels are only touched once someone waits.
type writeLock struct {
	// state is locked|waiting bits. While waiting is set every lock and
	// unlock goes through mu; a fast-path lock only succeeds from 0.
	state atomic.Int32
	// patience is backgroundPatience unless a test sets it (before use).
	patience time.Duration

	mu     sync.Mutex // guards the queues, seq and each queued waiter's granted
	fg, bg waitQueue
	seq    uint64 // arrival order across both queues
}

const (
	wlLocked  int32 = 1 << iota // held (or being handed to a waiter)
	wlWaiting                   // a queue may be non-empty: take the slow path
)

// Invariant (under mu): a non-empty queue implies the lock is held, since
// unlock never leaves the lock free while someone waits for it.

// waiter is one goroutine queued for the lock.
type waiter struct {
	ready      chan struct{} // closed when the lock is handed to it
	granted    bool          // set with ready closed, under mu
	seq        uint64
	since      time.Time
	prev, next *waiter
}

type waitQueue struct{ head, tail *waiter }

func (q *waitQueue) push(w *waiter) {
	w.prev = q.tail
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next = nil, nil
}

func newWriteLock() *writeLock { return &writeLock{patience: backgroundPatience} }

// lock takes the lock for a transaction of class c, waiting for it if held.
// If ctx ends first it returns ctx's error, wrapped, and does not hold the
// lock.
func (l *writeLock) lock(ctx context.Context, c writeClass) error {
	if l.state.CompareAndSwap(0, wlLocked) {
		return nil
	}
	return l.lockSlow(ctx, c)
}

func (l *writeLock) lockSlow(ctx context.Context, c writeClass) error {
	l.mu.Lock()
	for {
		s := l.state.Load()
		if s&wlLocked == 0 {
			// Free, so no one is queued (see the invariant); a fast-path
			// locker may still win this race, hence the loop.
			if l.state.CompareAndSwap(s, wlLocked) {
				l.mu.Unlock()
				return nil
			}
			continue
		}
		// Held: make the holder's unlock take the slow path, which hands
		// the lock on.
		if s&wlWaiting != 0 || l.state.CompareAndSwap(s, s|wlWaiting) {
			break
		}
	}
	w := &waiter{ready: make(chan struct{}), seq: l.seq, since: time.Now()}
	l.seq++
	l.queue(c).push(w)
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		// Handed over as ctx ended: we hold the lock and must pass it on,
		// or the next waiter would never be woken.
		l.mu.Unlock()
		l.unlock()
	} else {
		l.queue(c).remove(w)
		if l.fg.head == nil && l.bg.head == nil {
			l.state.And(^wlWaiting)
		}
		l.mu.Unlock()
	}
	return fmt.Errorf("waiting for the write lock: %w", ctx.Err())
}

func (l *writeLock) queue(c writeClass) *waitQueue {
	if c == background {
		return &l.bg
	}
	return &l.fg
}

// unlock releases the lock, or hands it to the next waiter.
func (l *writeLock) unlock() {
	if l.state.CompareAndSwap(wlLocked, 0) {
		return
	}
	l.unlockSlow()
}

func (l *writeLock) unlockSlow() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.Load()&wlLocked == 0 {
		panic("store: unlock of an unlocked write lock")
	}
	w, q := l.next()
	if w == nil {
		// Every waiter gave up.
		l.state.Store(0)
		return
	}
	q.remove(w)
	if l.fg.head == nil && l.bg.head == nil {
		l.state.Store(wlLocked)
	}
	w.granted = true
	close(w.ready)
}

// next picks the waiter to hand the lock to: the first foreground waiter,
// unless the first background waiter queued before it and has run out of
// patience.
func (l *writeLock) next() (*waiter, *waitQueue) {
	f, b := l.fg.head, l.bg.head
	switch {
	case b == nil:
		return f, &l.fg
	case f == nil:
		return b, &l.bg
	case b.seq < f.seq && time.Since(b.since) >= l.patience:
		return b, &l.bg
	default:
		return f, &l.fg
	}
}
