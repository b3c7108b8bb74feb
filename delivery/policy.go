package delivery

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says when a delivery that did not succeed is tried again. Its
// zero value is the default policy: 10 s, 20 s, 40 s … doubling, each delay
// capped at 1 h, ±10 % jitter, until 3 days after the first attempt. A zero
// field means its default; Validate refuses what makes no sense (New calls
// it).
type RetryPolicy struct {
	Initial       time.Duration // first retry delay; default 10 s
	Max           time.Duration // cap on one delay, jitter included; default 1 h; at least Initial
	Window        time.Duration // no retry later than this after the first attempt; default 72 h
	Jitter        float64       // ± fraction of each delay, below 1; default 0.1, negative = none
	MaxRetryAfter time.Duration // bound on a receiver's Retry-After; default 1 h
}

// Validate reports a policy that makes no sense, naming the field (as
// Options.Retry): a negative duration (0 means the default), a jitter of
// 100 % or more (a delay could come out zero or negative: an immediate
// retry) or not a number, or a cap (Max, or its default) below the first
// delay (Initial, or its default). A window shorter than the first delay is
// allowed: the first failure is then final.
func (p RetryPolicy) Validate() error {
	for _, f := range []struct {
		name string
		v    time.Duration
		def  string
	}{
		{"Initial", p.Initial, "10s"},
		{"Max", p.Max, "1h"},
		{"Window", p.Window, "72h"},
		{"MaxRetryAfter", p.MaxRetryAfter, "1h"},
	} {
		if f.v < 0 {
			return fmt.Errorf("delivery: Retry.%s is %s: must not be negative (0 means the default, %s)", f.name, f.v, f.def)
		}
	}
	if math.IsNaN(p.Jitter) || math.IsInf(p.Jitter, 0) || p.Jitter >= 1 {
		return fmt.Errorf("delivery: Retry.Jitter is %v: must be a fraction below 1 (0 means the default, 0.1; negative means none)", p.Jitter)
	}
	if d := p.withDefaults(); d.Max < d.Initial {
		return fmt.Errorf("delivery: Retry.Max (%s) is below Retry.Initial (%s): the cap on a delay must be at least the first delay", d.Max, d.Initial)
	}
	return nil
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Initial <= 0 {
		p.Initial = 10 * time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Hour
	}
	if p.Window <= 0 {
		p.Window = 72 * time.Hour
	}
	if p.Jitter == 0 {
		p.Jitter = 0.1
	}
	if p.Jitter < 0 {
		p.Jitter = 0
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = time.Hour
	}
	return p
}

// Delay is the pause after the n-th failed attempt (n ≥ 1), before jitter.
func (p RetryPolicy) Delay(n int) time.Duration {
	p = p.withDefaults()
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// next returns when to try again after the n-th failed attempt, or dead=true
// when that would fall outside the retry window that began at first.
// retryAfter (0 = none) is a receiver's throttling hint, already bounded.
//
// The rule is that no attempt starts after first + Window (one exactly at
// the window's end may). A retry whose time falls beyond it is not moved
// to the window's end for a last attempt: that would disregard the delay,
// or the receiver's Retry-After (at least that long), which pushed it there;
// the delivery is dead-lettered at once. A retry scheduled inside the window
// that still cannot start before its end (its endpoint backed off, or no
// process running, past it) is dead-lettered when it would have been
// claimed, without an attempt (worker.go, windowEnded).
func (p RetryPolicy) next(n int, first, now time.Time, retryAfter time.Duration, rnd func() float64) (at time.Time, dead bool) {
	p = p.withDefaults()
	// The cap bounds the delay after jitter ("each delay capped at 1 h"):
	// a capped delay is only ever shortened, 54–60 min by default; delays
	// below the cap keep their full ±Jitter.
	d := max(p.jitter(p.Delay(n), p.Max, rnd), retryAfter)
	at = now.Add(d)
	if at.After(first.Add(p.Window)) {
		return time.Time{}, true
	}
	return at, false
}

// inWindow returns which attempt of its retry window, which began at
// first, an attempt started at started is, for the schedule's delay: at
// most n, the delivery's attempts of all time. A delivery redelivered,
// replayed or resumed by re-enabling its endpoint starts a fresh window
// (first_attempt_at 0) with its attempts counted on, and its schedule
// must start again at Initial, not at the cap its old attempts reached.
//
// No count of the window's attempts is kept, but the schedule bounds it:
// the k-th attempt of a window starts no sooner than the first k-1
// delays, each at least (1-Jitter) of its nominal length (later still
// after a Retry-After, a back-off or the attempts' own time). So the
// position the elapsed time allows is never below the true one, and for a
// delivery that never started a fresh window min(n, that) is n, as before.
func (p RetryPolicy) inWindow(n int, first, started time.Time) int {
	p = p.withDefaults()
	elapsed := started.Sub(first)
	// 1 ms: the stored times are whole microseconds, and a jittered delay
	// is truncated to the nanosecond, once per attempt.
	floor := 1 - max(p.Jitter, 0)
	var sum time.Duration
	for k := 1; k < n; k++ {
		sum += p.Delay(k)
		if time.Duration(float64(sum)*floor) > elapsed+time.Millisecond {
			return k
		}
	}
	return n
}

// Next returns when to try again after the n-th failed attempt (n ≥ 1) of
// something first attempted at first, jittered and no sooner than
// retryAfter (0 = none; see RetryAfter), or dead=true when that would fall
// outside the retry window. Other durable senders (UMA's post-transaction
// callbacks) use it to retry on the webhooks' schedule. p must be valid
// (Validate).
func (p RetryPolicy) Next(n int, first, now time.Time, retryAfter time.Duration) (at time.Time, dead bool) {
	return p.next(n, first, now, retryAfter, defaultRand)
}

// RetryAfter is the Retry-After of a 429 or 503 answer (seconds or an HTTP
// date) bounded by p.MaxRetryAfter, as the webhooks honour it; 0 when
// absent, unparsable or for any other status. Other durable senders use it
// so that a receiver's throttling is read one way everywhere.
func (p RetryPolicy) RetryAfter(status int, h http.Header, now time.Time) time.Duration {
	return retryAfter(status, h, now, p.withDefaults().MaxRetryAfter)
}

func defaultRand() float64 { return rand.Float64() }

// jitter spreads d by ±p.Jitter (none when it is not above 0), then caps
// it at limit: a delay at its cap is only ever shortened by its jitter.
func (p RetryPolicy) jitter(d, limit time.Duration, rnd func() float64) time.Duration {
	if p.Jitter <= 0 {
		return d
	}
	return min(time.Duration(float64(d)*(1+p.Jitter*(2*rnd()-1))), limit)
}

// outcome is what one attempt's result means for its delivery.
type outcome int

const (
	outcomeDelivered outcome = iota // 2xx, or 409: the receiver already has this webhookId
	outcomeRetry                    // anything else: try again on the schedule
	outcomeGone                     // 410: disable the endpoint; the delivery waits for re-enabling
)

func (o outcome) String() string {
	switch o {
	case outcomeDelivered:
		return "delivered"
	case outcomeGone:
		return "gone"
	default:
		return "retry"
	}
}

// classify maps an HTTP status (0 = no response) to an outcome. Redirects are
// never followed, so a 3xx lands here and is a failure.
func classify(status int) outcome {
	switch {
	case status >= 200 && status < 300, status == http.StatusConflict:
		return outcomeDelivered
	case status == http.StatusGone:
		return outcomeGone
	default:
		return outcomeRetry
	}
}

// retryAfter reads a 429/503 Retry-After header (seconds or an HTTP date),
// bounded by limit; 0 when absent, unparsable or for other statuses.
func retryAfter(status int, h http.Header, now time.Time, limit time.Duration) time.Duration {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(limit/time.Second) {
			return limit
		}
		d = time.Duration(secs) * time.Second
	} else if errors.Is(err, strconv.ErrRange) && secs > 0 {
		// Digits beyond int64 (ParseInt then returns its maximum): still
		// delta-seconds, far in the future, so the bound, not nothing.
		return limit
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), limit)
}

// maxEndpointBackoff caps an endpoint's back-off, jitter included (a
// receiver's Retry-After is bounded on its own, by MaxRetryAfter).
const maxEndpointBackoff = 5 * time.Minute

// endpointBackoff is how long a failing endpoint is left alone after streak
// consecutive failures, before jitter: 1 s, 2 s, 4 s … capped at 5 min. Its
// due deliveries are not claimed meanwhile, so they hold no worker and burn
// no attempt.
func endpointBackoff(streak int64) time.Duration {
	if streak <= 0 {
		return 0
	}
	d := time.Second
	for i := int64(1); i < streak && d < maxEndpointBackoff; i++ {
		d *= 2
	}
	return min(d, maxEndpointBackoff)
}

// endpointBackoffUntil is when an endpoint whose failure (the streak-th in
// a row) was seen at seen may be attempted again: its back-off, jittered
// like the retries (p.Jitter, already defaulted: Options.withDefaults) so
// endpoints that failed together (a timeout storm) come due again spread
// out, or the receiver's Retry-After (already bounded), whichever is later.
//
// The 5 min cap bounds the back-off after jitter, as RetryPolicy.next's cap
// does its delays: a capped back-off is only ever shortened, 4.5–5 min by
// default; shorter ones keep their full ±Jitter.
func endpointBackoffUntil(p RetryPolicy, streak int64, seen time.Time, retryAfter time.Duration, rnd func() float64) time.Time {
	return seen.Add(max(p.jitter(endpointBackoff(streak), maxEndpointBackoff, rnd), retryAfter))
}
