package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// The UMA endpoints are public: anyone on the internet may call them, and
// each call costs work: a payreq checks a signature (a plain-LNURL GET
// payreq not even that), writes rows, creates a Lightning invoice and may
// send the platform an approval webhook; an lnurlp tells whether a user
// exists. So each client may make Options.UMARequestsPerSecond requests a
// second to them, in a burst of twice as many, and past that is answered
// 429 with Retry-After until its bucket has room again. The client is the
// one the middleware resolved (clientaddr.go: behind a trusted proxy the
// address X-Forwarded-For names; an IPv6 client by its /64), and the
// bookkeeping is the auth limiter's (ratelimit.go), counting every request
// instead of failures.
//
// Not limited: the static documents /.well-known/lnurlpubkey and
// /.well-known/uma-configuration, which cost no database work, are
// cacheable, and which counterparties fetch to verify every message we
// sign: throttling them would fail other VASPs' checks of our answers
// first. Nor is a CORS preflight (OPTIONS) counted: a browser wallet sends
// one before its request, which is.

// DefaultUMARequestsPerSecond is Options.UMARequestsPerSecond's default:
// far above what one counterparty's payments need (a payment is an lnurlp
// and a payreq), far below what floods the database and the node.
const DefaultUMARequestsPerSecond = 50

// maxUMAClients bounds the clients the UMA limiter remembers (about 200
// bytes each): every request adds its client, those whose bucket has
// refilled are forgotten first, then the least recently seen.
const maxUMAClients = 10_000

// newUMALimiter limits each client to perSecond requests a second, in a
// burst of 2*perSecond; nil, which limits nothing, for perSecond <= 0.
func newUMALimiter(clock vaspd.Clock, log *slog.Logger, perSecond, capacity int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return newLimiter(clock, log, time.Second/time.Duration(perSecond), 2*perSecond, time.Minute, capacity,
		"throttling UMA requests from a client: those past its limit are answered 429 until it slows down; "+
			"logged once a minute per client",
		slog.Int("requests_per_second", perSecond))
}

// limitUMA answers f's requests 429 while their client is past the UMA
// request limit, without reading their body: a throttled request costs the
// limiter alone. Preflights pass uncounted.
func (s *Server) limitUMA(f http.HandlerFunc) http.HandlerFunc {
	if s.umaLimit == nil {
		return f
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			f(w, r)
			return
		}
		d := s.umaLimit.take(s.clientOf(r).key())
		if d == 0 {
			f(w, r)
			return
		}
		s.metrics.umaThrottled.Inc()
		secs := seconds(d)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		// UMA's error JSON without "code": UMA's table has none for
		// throttling (uma.Error's MarshalJSON).
		writeUMAError(w, http.StatusTooManyRequests,
			&uma.Error{Reason: "too many requests from your address: retry after " + strconv.FormatInt(secs, 10) + " s"})
	}
}
