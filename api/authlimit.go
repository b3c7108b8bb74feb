package api

import (
	"container/list"
	"log/slog"
	"sync"
	"time"

	"github.com/vaspd/vaspd"
)

// Failed Basic authentications are limited per client, so that nobody can
// try secrets at full speed, nor make vaspd look tokens up and hash
// secrets at full speed. Each client has a token bucket of
// AuthFailuresPerMinute failures that refills at that rate: a burst of that
// many, then one per 60/N seconds. While its bucket is empty, a client's
// requests to authenticated routes are answered 429 with Retry-After
// without their credentials being read, a right secret's too: that is what
// bounds the work. A success neither counts nor refills, so a client that
// does not fail is never throttled.
//
// A client is the request's client address (clientaddr.go): the
// connection's peer, or, from a reverse proxy the operator trusts
// (api-trusted-proxies), the client its X-Forwarded-For names, so that
// behind a proxy one client's failures throttle that client alone. With no
// proxy trusted (the default) a proxy's clients all have its address and
// one throttles the others: name the proxy, or limit at the proxy and turn
// this off (api-auth-failure-limit 0). An IPv6 client is its /64, which
// one host commonly holds whole, so that walking addresses within it gains
// nothing.

// DefaultAuthFailuresPerMinute is Options.AuthFailuresPerMinute's default.
const DefaultAuthFailuresPerMinute = 10

// maxAuthClients bounds the clients the limiter remembers (about 200 bytes
// each). Only failures add one; a client whose bucket has refilled is
// forgotten first, then the one that failed least recently.
const maxAuthClients = 10_000

// authLimiter is the per-client failure limit, by the generic cell rate
// algorithm: a client's bucket is kept as the time it is full again (tat),
// each failure pushing that one interval further, and the client is
// throttled while tat lies more than burst-1 intervals ahead.
type authLimiter struct {
	clock  vaspd.Clock
	log    *slog.Logger
	every  time.Duration // one failure more is allowed per every
	slack  time.Duration // (burst-1)*every
	window time.Duration // burst*every: one log line per throttled client per window
	max    int

	mu      sync.Mutex
	clients map[string]*list.Element // of *authClient
	lru     list.List                // front: the last to fail or be throttled
}

type authClient struct {
	key    string
	tat    time.Time // when its bucket is full again
	logged time.Time // when its throttling was last logged
}

// newAuthLimiter limits each client to perMinute failures a minute; nil,
// which limits nothing, for perMinute <= 0.
func newAuthLimiter(clock vaspd.Clock, log *slog.Logger, perMinute, capacity int) *authLimiter {
	if perMinute <= 0 {
		return nil
	}
	every := time.Minute / time.Duration(perMinute)
	return &authLimiter{clock: clock, log: log, every: every, slack: time.Duration(perMinute-1) * every,
		window: time.Duration(perMinute) * every, max: capacity, clients: map[string]*list.Element{}}
}

// wait is 0 when the client key may try to authenticate, else how long
// until it may.
func (l *authLimiter) wait(key string) time.Duration {
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
	c := el.Value.(*authClient)
	d := c.tat.Sub(now) - l.slack
	logIt := false
	if d > 0 {
		// Kept in front: a client kept busy being refused is the last
		// to be evicted (and so let in again).
		l.lru.MoveToFront(el)
		if c.logged.IsZero() || now.Sub(c.logged) >= l.window {
			c.logged, logIt = now, true
		}
	}
	l.mu.Unlock()
	if logIt {
		// The client and the limit, never the credentials.
		l.log.Warn("throttling failed platform API authentications from a client: its requests are answered 429 "+
			"without being checked until it may try again; logged once a window per client",
			"client", key, "retry_after_s", seconds(d), "failures_per_minute", int(time.Minute/l.every))
	}
	return max(d, 0)
}

// failed counts a failed authentication of the client key.
func (l *authLimiter) failed(key string) {
	if l == nil {
		return
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.clients[key]; el != nil {
		c := el.Value.(*authClient)
		if c.tat.Before(now) {
			c.tat = now
		}
		c.tat = c.tat.Add(l.every)
		l.lru.MoveToFront(el)
		return
	}
	// Clients whose bucket has refilled carry nothing: forget those at
	// the back, then, at the bound, the one that failed least recently.
	for el := l.lru.Back(); el != nil && !el.Value.(*authClient).tat.After(now); el = l.lru.Back() {
		l.forget(el)
	}
	if len(l.clients) >= l.max {
		l.forget(l.lru.Back())
	}
	l.clients[key] = l.lru.PushFront(&authClient{key: key, tat: now.Add(l.every)})
}

func (l *authLimiter) forget(el *list.Element) {
	delete(l.clients, el.Value.(*authClient).key)
	l.lru.Remove(el)
}

// seconds is d in whole seconds, rounded up, for Retry-After: a client
// that waits as told is let through.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
