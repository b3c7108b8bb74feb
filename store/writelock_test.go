package store

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// queued reports how many waiters each class has.
func queued(l *writeLock) (fg, bg int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for w := l.fg.head; w != nil; w = w.next {
		fg++
	}
	for w := l.bg.head; w != nil; w = w.next {
		bg++
	}
	return fg, bg
}

// waitQueued waits until the lock has fg and bg waiters: a test queues its
// waiters one at a time, so their arrival order is the one it means.
func waitQueued(t *testing.T, l *writeLock, fg, bg int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		f, b := queued(l)
		if f == fg && b == bg {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiters: %d foreground, %d background; want %d, %d", f, b, fg, bg)
		}
		if i < 1000 {
			runtime.Gosched() // a goroutine just started queues within microseconds
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// checkFree fails unless the lock is free with no one queued, and takes
// the fast path.
func checkFree(t *testing.T, l *writeLock) {
	t.Helper()
	if f, b := queued(l); f != 0 || b != 0 {
		t.Fatalf("%d foreground and %d background waiters left queued", f, b)
	}
	if s := l.state.Load(); s != 0 {
		t.Fatalf("lock state %b, want free (0)", s)
	}
}

// order records who held the lock, in order. Appended to inside the critical
// section, so the lock itself is what keeps it consistent (-race checks).
type order []string

func (o order) String() string { return strings.Join(o, " ") }

// lockAs starts a goroutine that takes l as class c, records name and
// releases it, and returns a channel closed when it has.
func lockAs(t *testing.T, l *writeLock, c writeClass, name string, got *order) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.lock(context.Background(), c); err != nil {
			t.Error(err)
			return
		}
		*got = append(*got, name)
		l.unlock()
	}()
	return done
}

func waitAll(t *testing.T, chs ...<-chan struct{}) {
	t.Helper()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter never got the lock")
		}
	}
}

// A background waiter within its patience lets foreground waiters go first,
// even ones that queued after it; past its patience it keeps its place
// ahead of later ones (not of earlier ones).
func TestWriteLockBackgroundYieldsWithinPatience(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patience time.Duration
		want     string
	}{
		{"within patience", time.Hour, "fg0 fg1 bg"},
		{"past patience", 20 * time.Millisecond, "fg0 bg fg1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newWriteLock()
			l.patience = tc.patience
			if err := l.lock(context.Background(), foreground); err != nil {
				t.Fatal(err)
			}
			var got order
			fg0 := lockAs(t, l, foreground, "fg0", &got)
			waitQueued(t, l, 1, 0)
			bg := lockAs(t, l, background, "bg", &got)
			waitQueued(t, l, 1, 1)
			fg1 := lockAs(t, l, foreground, "fg1", &got)
			waitQueued(t, l, 2, 1)
			// Past patience for the short case, whatever the scheduler does.
			time.Sleep(25 * time.Millisecond)
			l.unlock()
			waitAll(t, fg0, bg, fg1)
			if got.String() != tc.want {
				t.Fatalf("served %q, want %q", got, tc.want)
			}
			checkFree(t, l)
		})
	}
}

// Under constant foreground load (a foreground waiter always queued) a
// background waiter is still served, soon after its patience runs out.
func TestWriteLockBackgroundNotStarved(t *testing.T) {
	l := newWriteLock() // the real patience
	ctx := context.Background()
	stop := make(chan struct{})
	var rounds atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded, so a starved background waiter fails the test below
			// instead of hanging it.
			end := time.Now().Add(3 * time.Second)
			for time.Now().Before(end) {
				select {
				case <-stop:
					return
				default:
				}
				if err := l.lock(ctx, foreground); err != nil {
					t.Error(err)
					return
				}
				// A short application transaction.
				for t0 := time.Now(); time.Since(t0) < 50*time.Microsecond; {
				}
				rounds.Add(1)
				l.unlock()
			}
		}()
	}
	for rounds.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := l.lock(ctx, background); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	l.unlock()
	close(stop)
	wg.Wait()
	t.Logf("background waited %v under foreground load (patience %v)", waited, l.patience)
	// Patience plus the holder's transaction, with room for a loaded
	// 2-core machine and -race; a starved waiter waits for the load's 3 s.
	if waited > time.Second {
		t.Fatalf("background waiter waited %v with patience %v: starved", waited, l.patience)
	}
	checkFree(t, l)
}

// Unlock hands the lock to the waiter: a goroutine that unlocks and at once
// locks again (a loop of short transactions) queues behind it.
func TestWriteLockNoBarging(t *testing.T) {
	for _, again := range []writeClass{background, foreground} {
		name := map[writeClass]string{foreground: "foreground", background: "background"}[again]
		t.Run("again as "+name, func(t *testing.T) {
			l := newWriteLock()
			l.patience = 0 // even an impatient background waiter queues behind
			ctx := context.Background()
			for i := range 200 {
				if err := l.lock(ctx, foreground); err != nil {
					t.Fatal(err)
				}
				var got order
				w := lockAs(t, l, foreground, "waiter", &got)
				waitQueued(t, l, 1, 0)
				l.unlock()
				if err := l.lock(ctx, again); err != nil {
					t.Fatal(err)
				}
				got = append(got, "holder")
				l.unlock()
				waitAll(t, w)
				if got.String() != "waiter holder" {
					t.Fatalf("iteration %d: served %q, want the waiter first", i, got)
				}
				checkFree(t, l)
			}
		})
	}
}

// A waiter whose context ends gives up with the context's error and leaves
// the lock as it found it.
func TestWriteLockContextWhileWaiting(t *testing.T) {
	for _, c := range []writeClass{foreground, background} {
		l := newWriteLock()
		if err := l.lock(context.Background(), foreground); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := l.lock(ctx, c)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "write lock") {
			t.Fatalf("class %d: err = %v, want the deadline, wrapped", c, err)
		}
		if f, b := queued(l); f != 0 || b != 0 {
			t.Fatalf("class %d: %d, %d waiters still queued after giving up", c, f, b)
		}
		l.unlock()
		checkFree(t, l)
	}
}

// Cancellation racing the handoff: whichever wins, the lock is not lost —
// the waiter behind the cancelled one is served, and the lock ends free.
func TestWriteLockCancelRacesHandoff(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	l := newWriteLock()
	l.patience = 0 // the first queued waiter is the one handed the lock, in either class
	bg := context.Background()
	var handed, gaveUp int
	for i := range n {
		ca, cb := writeClass(i%2), writeClass((i/2)%2)
		if err := l.lock(bg, foreground); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		aErr := make(chan error, 1)
		go func() {
			err := l.lock(ctx, ca)
			if err == nil {
				l.unlock()
			}
			aErr <- err
		}()
		waitQueued(t, l, 1-int(ca), int(ca))
		var got order
		b := lockAs(t, l, cb, "b", &got)
		waitQueued(t, l, 2-int(ca)-int(cb), int(ca)+int(cb))
		// Cancel well before, just before, just after and at the same time
		// as the handoff: A then finds its context ended with or without
		// the lock.
		mode := (i / 4) % 4
		switch mode {
		case 0:
			cancel()
			waitQueued(t, l, 1-int(cb), int(cb)) // A has left the queue
			l.unlock()
		case 1:
			cancel()
			l.unlock()
		case 2:
			l.unlock()
			cancel()
		default:
			go cancel()
			l.unlock()
		}
		switch err := <-aErr; {
		case err == nil && mode == 0:
			t.Fatalf("iteration %d: A got the lock after it gave up", i)
		case err == nil:
			handed++
		case errors.Is(err, context.Canceled):
			gaveUp++
		default:
			t.Fatalf("iteration %d: %v", i, err)
		}
		waitAll(t, b)
		checkFree(t, l)
	}
	t.Logf("%d handed the lock, %d gave up", handed, gaveUp)
}

// Many goroutines of both classes, some giving up while waiting: one holder
// at a time, and every acquisition counted (run with -race).
func TestWriteLockMutualExclusion(t *testing.T) {
	l := newWriteLock()
	l.patience = 50 * time.Microsecond // exercise impatient background waiters too
	const goroutines, iterations = 8, 1500
	var inside atomic.Int32
	var count, taken int64 // count: only ever touched under l
	var takenMu sync.Mutex
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := writeClass(g % 2)
			mine := int64(0)
			for i := range iterations {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if i%7 == 0 {
					ctx, cancel = context.WithTimeout(ctx, 20*time.Microsecond)
				}
				err := l.lock(ctx, c)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Error(err)
						return
					}
					continue
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				count++
				runtime.Gosched() // let the others queue up behind
				inside.Add(-1)
				l.unlock()
				mine++
			}
			takenMu.Lock()
			taken += mine
			takenMu.Unlock()
		}()
	}
	wg.Wait()
	if count != taken {
		t.Fatalf("counter %d, want %d acquisitions", count, taken)
	}
	checkFree(t, l)
}

func TestWriteLockUnlockUnlockedPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("unlock of a free lock did not panic")
		}
	}()
	newWriteLock().unlock()
}

func BenchmarkWriteLockUncontended(b *testing.B) {
	ctx := context.Background()
	b.Run("writeLock", func(b *testing.B) {
		l := newWriteLock()
		for b.Loop() {
			_ = l.lock(ctx, foreground)
			l.unlock()
		}
	})
	b.Run("writeLock background", func(b *testing.B) {
		l := newWriteLock()
		for b.Loop() {
			_ = l.lock(ctx, background)
			l.unlock()
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock() //lint:ignore SA2001 the empty critical section is what is measured
		}
	})
}

// hold is a critical section about the length of a tiny SQLite write
// transaction's bookkeeping, so handoff costs show next to real work.
func hold(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

func BenchmarkWriteLockContended(b *testing.B) {
	ctx := context.Background()
	const work = 2 * time.Microsecond
	b.Run("writeLock", func(b *testing.B) {
		l := newWriteLock()
		b.SetParallelism(4)
		var i atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			c := writeClass(i.Add(1) % 2) // half the goroutines background
			for pb.Next() {
				_ = l.lock(ctx, c)
				hold(work)
				l.unlock()
			}
		})
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var mu sync.Mutex
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				hold(work)
				mu.Unlock()
			}
		})
	})
}
