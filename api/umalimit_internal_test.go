package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
)

// The UMA limiter lets a client through in a burst of twice its rate, then
// one request per interval; throttled requests are not counted, so a client
// sending too fast still gets the rate; a client that pauses long enough
// has its burst back.
func TestUMALimiterBurstAndRate(t *testing.T) {
	clock := vaspd.NewFakeClock(time.Unix(1_700_000_000, 0))
	l := newUMALimiter(clock, slog.New(slog.DiscardHandler), 50, 100) // 20 ms each, a burst of 100
	for i := range 100 {
		if d := l.take("c"); d != 0 {
			t.Fatalf("request %d of the burst: wait %s", i+1, d)
		}
	}
	for range 3 {
		if d := l.take("c"); d != 20*time.Millisecond {
			t.Fatalf("past the burst: wait %s, want 20ms", d)
		}
	}
	clock.Advance(20 * time.Millisecond)
	if d := l.take("c"); d != 0 {
		t.Fatalf("after an interval: wait %s", d)
	}
	clock.Advance(5 * time.Millisecond)
	if d := l.take("c"); d != 15*time.Millisecond {
		t.Fatalf("within the next interval: wait %s, want 15ms", d)
	}
	if d := l.take("other"); d != 0 {
		t.Fatalf("another client: wait %s", d)
	}
	clock.Advance(2 * time.Second)
	for i := range 100 {
		if d := l.take("c"); d != 0 {
			t.Fatalf("request %d of the second burst: wait %s", i+1, d)
		}
	}
	if l.take("c") == 0 {
		t.Fatal("past the second burst: let through")
	}
	if newUMALimiter(clock, nil, 0, 100) != nil || newUMALimiter(clock, nil, -1, 100).take("c") != 0 {
		t.Fatal("a limit of 0 or less limits")
	}
}

// A throttled client is logged once a minute, whatever its rate, with its
// key, the wait and the limit.
func TestUMALimiterLogsOncePerMinute(t *testing.T) {
	clock := vaspd.NewFakeClock(time.Unix(1_700_000_000, 0))
	var buf bytes.Buffer
	l := newUMALimiter(clock, slog.New(slog.NewTextHandler(&buf, nil)), 1, 100) // a burst of 2
	throttle := func() {
		t.Helper()
		for range 2 {
			if d := l.take("192.0.2.7"); d != 0 {
				t.Fatalf("burst: wait %s", d)
			}
		}
		for range 5 {
			if l.take("192.0.2.7") == 0 {
				t.Fatal("past the burst: let through")
			}
		}
	}
	lines := func() int { return strings.Count(buf.String(), "throttling UMA requests") }
	throttle()
	if lines() != 1 || !strings.Contains(buf.String(), "client=192.0.2.7 retry_after_s=1 requests_per_second=1") {
		t.Fatalf("after the first throttling:\n%s", buf.String())
	}
	clock.Advance(30 * time.Second)
	throttle()
	if lines() != 1 {
		t.Fatalf("%d lines within a minute, want 1", lines())
	}
	clock.Advance(31 * time.Second)
	throttle()
	if lines() != 2 {
		t.Fatalf("%d lines a minute on, want 2", lines())
	}
}

// The UMA limiter counts every request, so every client a flood of
// addresses sends is remembered: at most its bound, the most recent kept.
func TestUMALimiterBounded(t *testing.T) {
	clock := vaspd.NewFakeClock(time.Unix(1_700_000_000, 0))
	l := newUMALimiter(clock, slog.New(slog.DiscardHandler), 1, 50)
	key := func(i int) string { return fmt.Sprintf("c%d", i) }
	for i := range 1000 {
		for range 3 {
			l.take(key(i))
		}
		if n := len(l.clients); n > 50 || n != l.lru.Len() {
			t.Fatalf("after %d clients: %d remembered, %d listed", i+1, n, l.lru.Len())
		}
	}
	if l.take(key(999)) == 0 || l.take(key(950)) == 0 {
		t.Fatal("the most recent clients are not throttled")
	}
	if l.take(key(0)) != 0 {
		t.Fatal("the first client is still remembered")
	}
}

// BenchmarkUMALimiter is what the limit adds to each UMA request: the
// client's key from the address the middleware resolved, and take. "one"
// is one client within its limit; "10k" rotates through ten thousand
// addresses, the limiter full, so that every request evicts one (the
// costliest path); "parallel" is a client per goroutine, all on the one mutex.
func BenchmarkUMALimiter(b *testing.B) {
	clients := make([]client, maxUMAClients)
	for i := range clients {
		clients[i] = client{addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
	}
	ipv6 := client{addr: netip.MustParseAddr("2001:db8:1:2::7")}
	newLimiter := func() *limiter {
		// 100,000 a second, each reading of the clock one interval on:
		// the client is always within its limit, as one that is let
		// through (a throttled one costs less: nothing is counted).
		return newUMALimiter(&stepClock{step: 10 * time.Microsecond}, slog.New(slog.DiscardHandler), 100_000, maxUMAClients)
	}
	b.Run("one", func(b *testing.B) {
		l := newLimiter()
		for b.Loop() {
			if l.take(clients[0].key()) != 0 {
				b.Fatal("throttled")
			}
		}
	})
	b.Run("one-ipv6", func(b *testing.B) {
		l := newLimiter()
		for b.Loop() {
			if l.take(ipv6.key()) != 0 {
				b.Fatal("throttled")
			}
		}
	})
	b.Run("10k", func(b *testing.B) {
		l := newLimiter()
		for _, c := range clients {
			l.take(c.key())
		}
		extra := client{addr: netip.MustParseAddr("192.0.2.1")}
		i := 0
		for b.Loop() {
			// A new client every other request: each evicts the least
			// recent one.
			c := clients[i%len(clients)]
			if i%2 == 1 {
				c = extra
				extra.addr = extra.addr.Next()
			}
			l.take(c.key())
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		l := newLimiter()
		var n atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			c := client{addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(n.Add(1))})}
			for pb.Next() {
				if l.take(c.key()) != 0 {
					b.Error("throttled")
					return
				}
			}
		})
	})
}

// stepClock is a clock that moves step on at every reading.
type stepClock struct {
	step time.Duration
	now  atomic.Int64
}

func (c *stepClock) Now() time.Time { return time.Unix(1_700_000_000, c.now.Add(int64(c.step))) }
