package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
)

// MaxLoggedBody is how much of a response body the attempt log keeps.
const MaxLoggedBody = 8 << 10

// maxSyncBody is how much of a response body a synchronous send returns to
// its caller (an approval reply carries receiverUserInfo).
const maxSyncBody = 64 << 10

// newClient builds the HTTP client every attempt uses: SSRF check at dial
// time, no proxy (a proxy would dial on our behalf, past the guard), no
// redirects, bounded connect and TLS handshake. It keeps up to inFlight
// idle connections, to one host as well: a platform's endpoints often
// share a host, and with fewer kept, every round of attempts beyond them
// dialled (and, over TLS, shook hands) again.
func newClient(g *ssrf.Guard, connect time.Duration, inFlight int) *http.Client {
	tr := ssrf.NewTransport(g, connect)
	tr.MaxIdleConns = max(tr.MaxIdleConns, inFlight)
	tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, inFlight)
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// target is what an attempt needs to know about its endpoint.
type target struct {
	id      string
	url     string
	timeout time.Duration
	secret  string
	// prev is the secret a rotation replaced; it signs too until
	// prevUntil (exclusive), judged when each attempt is signed: a
	// delivery claimed (or handed off) before the grace period ended
	// may start after it.
	prev      string
	prevUntil time.Time
	ed25519   bool
	streak    int64
	// gen is the row's updated_at and streak_resets, which every change to
	// the endpoint (re-enabling it among them) and every end of its failure
	// streak (a success after failures), in any process, move: the worker's
	// own streak holds only under the gen it was known at (reconcile).
	gen streakGen
	// sig caches the default signer's parsed keys for this reading
	// (signer.go); nil: none, sign from scratch.
	sig *signerCache
}

// streakGen is the generation of an endpoint's failure streak: the row's
// updated_at, moved by every change to the endpoint (re-enabling it starts
// the streak over), and its streak_resets, counting the successes after
// failures that ended a streak without changing the endpoint (updated_at,
// the API's updatedAt, tells of configuration changes only).
type streakGen struct {
	updated int64
	resets  int64
}

// secretsAt returns the secrets that sign an attempt made at now, current
// first.
func (t *target) secretsAt(now time.Time) []string {
	if t.prev != "" && now.Before(t.prevUntil) {
		return []string{t.secret, t.prev}
	}
	return []string{t.secret}
}

// attemptResult is one attempt's outcome, as logged.
type attemptResult struct {
	started    time.Time
	latency    time.Duration
	status     int // 0 = no response
	header     http.Header
	body       []byte // up to the caller's limit
	err        error
	retryAfter time.Duration
}

func (r *attemptResult) errString() string {
	if r.err == nil {
		return ""
	}
	return logText(r.err.Error(), 1000)
}

// logText makes s storable in a TEXT column and cuts it to at most n bytes:
// an error's text may quote a receiver's bytes, and PostgreSQL refuses NUL
// and invalid UTF-8, including a character cut in half.
func logText(s string, n int) string {
	s = vaspd.Storable(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// attempt POSTs body to t once, signed, within t.timeout.
func (s *Service) attempt(ctx context.Context, t target, webhookID string, body []byte, bodyLimit int64) attemptResult {
	now := s.opt.Clock.Now()
	started := time.Now()
	res := attemptResult{started: now}
	// What bounds the attempt, as its log says: its timeout, or the
	// caller's earlier deadline (a synchronous send's).
	limit := t.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl).Round(time.Millisecond); left < limit {
			limit = max(left, 0)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		res.err = fmt.Errorf("build request: %w", err)
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vaspd-webhooks/1")
	in := SignInput{WebhookID: webhookID, Timestamp: now, Body: body, Secrets: t.secretsAt(now)}
	if t.ed25519 {
		k, err := s.signingKey(ctx)
		if err != nil {
			res.err = err
			return res
		}
		in.SigningKey = k
	}
	if _, ok := s.opt.Signer.(defaultSigner); ok && t.sig != nil {
		err = t.sig.sign(req.Header, in)
	} else {
		err = s.opt.Signer.Sign(req.Header, in)
	}
	if err != nil {
		res.err = fmt.Errorf("sign: %w", err)
		return res
	}
	s.injectTraceContext(ctx, req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		res.latency = time.Since(started)
		res.err = describe(err, limit)
		return res
	}
	// The timeout bounds reading the body too. The request's context does
	// that for an ordinary body, but not for the body of a "101 Switching
	// Protocols" answer (which no attempt asks for, but any receiver may
	// send): net/http hands over the raw connection as that body, and a
	// receiver that then says nothing would hold the attempt for ever.
	// Closing the body when the context ends unblocks any read.
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	res.status = resp.StatusCode
	res.header = resp.Header
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err() // the read failed because the body was closed at the deadline
		}
		res.err = describe(err, limit)
	}
	// Drain a little more so the connection can be reused, never much.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if res.status < 100 || res.status > 599 {
		// net/http takes any three digits for a status code, but HTTP's
		// are 100–599 (RFC 9110, section 15): 000 or 600–999 is a broken
		// answer, as a status line net/http refuses is, not a receiver's
		// reply. Retried as such, counted as such ("error"), and a
		// synchronous caller gets it as Err. The code stays in the log.
		res.err = invalidStatusError(res.status)
	}
	res.latency = time.Since(started)
	res.retryAfter = retryAfter(res.status, resp.Header, now, s.opt.Retry.MaxRetryAfter)
	return res
}

// describe turns transport errors into short log lines without URLs (which
// may carry credentials in their query).
func describe(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ssrf.ErrRefused):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return timeoutError(timeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return timeoutError(timeout)
	}
	return err
}

// invalidStatusError is an answer whose status code is three digits
// outside HTTP's 100–599.
type invalidStatusError int

func (e invalidStatusError) Error() string {
	return fmt.Sprintf("invalid HTTP status code %03d", int(e))
}

// timeoutError is an attempt that ran out of time. It reads "timed out
// after …" and is a context.DeadlineExceeded for errors.Is, so a caller of
// Send can tell a timeout from a broken receiver.
type timeoutError time.Duration

func (e timeoutError) Error() string { return "timed out after " + time.Duration(e).String() }
func (timeoutError) Unwrap() error   { return context.DeadlineExceeded }
func (timeoutError) Timeout() bool   { return true }
