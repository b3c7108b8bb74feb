package api

import (
	"container/list"
	"log/slog"
	"sync"
	"time"

	"github.com/vaspd/vaspd"
)

// limiter is a per-client token bucket, used twice: for failed platform
// authentications (authlimit.go: only failures count) and for requests to
// the UMA endpoints (umalimit.go: every request counts). It keeps each
// client's bucket by the generic cell rate algorithm, as the time the
// bucket is full again (tat): each event counted pushes tat one interval
// further, and the client is throttled while tat lies more than burst-1
// intervals ahead. So a client is a few words, every operation is O(1)
// under one mutex, and what is remembered is bounded: at most max clients,
// in a list from the most to the least recently counted or throttled.
type limiter struct {
	clock  vaspd.Clock
	log    *slog.Logger
	every  time.Duration // one event more is allowed per every
	slack  time.Duration // (burst-1)*every
	window time.Duration // one log line per throttled client per window
	max    int
	warn   string    // the log line's message
	rate   slog.Attr // the limit, for the log line

	mu      sync.Mutex
	clients map[string]*list.Element // of *limitClient
	lru     list.List                // front: the last counted or throttled
}

// newLimiter allows each client one event per every, in a burst of burst,
// remembering at most capacity clients; a throttled client is logged at
// most once per window, with message warn and the limit as rate.
func newLimiter(clock vaspd.Clock, log *slog.Logger, every time.Duration, burst int, window time.Duration,
	capacity int, warn string, rate slog.Attr) *limiter {
	return &limiter{clock: clock, log: log, every: every, slack: time.Duration(burst-1) * every,
		window: window, max: capacity, clients: map[string]*list.Element{}, warn: warn, rate: rate}
}

type limitClient struct {
	key    string
	tat    time.Time // when its bucket is full again
	logged time.Time // when its throttling was last logged
}

// wait is 0 when the client key may go on, else how long until it may.
// It counts nothing.
func (l *limiter) wait(key string) time.Duration {
	if l == nil {
		return 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	el := l.clients[key]
	if el == nil {
		l.mu.Unlock()
		return 0
	}
	d, logIt := l.check(el, now)
	l.mu.Unlock()
	if logIt {
		l.warnThrottled(key, d)
	}
	return d
}

// take is wait and, when the client may go on, counts the event: what a
// request limit does in one step. A throttled event is not counted, so a
// client sending faster than the limit still gets the limit's rate.
func (l *limiter) take(key string) time.Duration {
	if l == nil {
		return 0
	}
	now := l.clock.Now()
	l.mu.Lock()
	if el := l.clients[key]; el != nil {
		if d, logIt := l.check(el, now); d > 0 {
			l.mu.Unlock()
			if logIt {
				l.warnThrottled(key, d)
			}
			return d
		}
	}
	l.count(key, now)
	l.mu.Unlock()
	return 0
}

// failed counts an event of the client key, whether or not it is
// throttled (the auth limiter counts a failure after letting it through).
func (l *limiter) failed(key string) {
	if l == nil {
		return
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count(key, now)
}

// check is how long the client el must wait (0: none), and whether its
// throttling is to be logged now. l.mu is held.
func (l *limiter) check(el *list.Element, now time.Time) (d time.Duration, logIt bool) {
	c := el.Value.(*limitClient)
	d = c.tat.Sub(now) - l.slack
	if d <= 0 {
		return 0, false
	}
	// Kept in front: a client kept busy being refused is the last to be
	// evicted (and so let in again).
	l.lru.MoveToFront(el)
	if c.logged.IsZero() || now.Sub(c.logged) >= l.window {
		c.logged, logIt = now, true
	}
	return d, logIt
}

// count adds one event to the client key's bucket. l.mu is held.
func (l *limiter) count(key string, now time.Time) {
	if el := l.clients[key]; el != nil {
		c := el.Value.(*limitClient)
		if c.tat.Before(now) {
			c.tat = now
		}
		c.tat = c.tat.Add(l.every)
		l.lru.MoveToFront(el)
		return
	}
	// Clients whose bucket has refilled carry nothing: forget those at
	// the back, then, at the bound, the one counted least recently.
	for el := l.lru.Back(); el != nil && !el.Value.(*limitClient).tat.After(now); el = l.lru.Back() {
		l.forget(el)
	}
	if len(l.clients) >= l.max {
		l.forget(l.lru.Back())
	}
	l.clients[key] = l.lru.PushFront(&limitClient{key: key, tat: now.Add(l.every)})
}

func (l *limiter) forget(el *list.Element) {
	delete(l.clients, el.Value.(*limitClient).key)
	l.lru.Remove(el)
}

// warnThrottled logs the throttling of the client key: its address and the
// limit, never anything of the request (credentials, path, body).
func (l *limiter) warnThrottled(key string, d time.Duration) {
	l.log.Warn(l.warn, "client", key, "retry_after_s", seconds(d), l.rate)
}

// seconds is d in whole seconds, rounded up, for Retry-After: a client
// that waits as told is let through.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
