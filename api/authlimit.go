package api

import (
	"log/slog"
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

// newAuthLimiter limits each client to perMinute failures a minute, in a
// burst of perMinute (limiter, ratelimit.go); nil, which limits nothing,
// for perMinute <= 0.
func newAuthLimiter(clock vaspd.Clock, log *slog.Logger, perMinute, capacity int) *limiter {
	if perMinute <= 0 {
		return nil
	}
	every := time.Minute / time.Duration(perMinute)
	return newLimiter(clock, log, every, perMinute, time.Duration(perMinute)*every, capacity,
		"throttling failed platform API authentications from a client: its requests are answered 429 "+
			"without being checked until it may try again; logged once a window per client",
		slog.Int("failures_per_minute", int(time.Minute/every)))
}
