package delivery

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vaspd/vaspd/store"
)

// What one attempt's result makes of its delivery: pending with its next
// attempt scheduled, delivered, disabled with its endpoint, or dead.

// deliveryUpdate is the new state of one delivery after its attempt.
type deliveryUpdate struct {
	status    string // "": leave as it is (pending)
	lastError string
	nextAt    int64 // -1: leave next_attempt_at as it is
	finished  int64 // -1: leave finished_at as it is
}

// nextStates decides each result's delivery update (nextState) and metric
// label.
func (s *Service) nextStates(batch []finished, eps map[string]*endpointChange, now time.Time, us int64) ([]outcomeLabel, []deliveryUpdate) {
	labels := make([]outcomeLabel, len(batch))
	ups := make([]deliveryUpdate, len(batch))
	for i, f := range batch {
		ec := eps[f.c.t.id]
		if ec == nil {
			ec = &endpointChange{}
		}
		labels[i], ups[i] = s.nextState(f, ec, now, us)
	}
	return labels, ups
}

// nextState decides what one attempt's result does to its delivery and
// returns the outcome's metric label; ec tells what recording the batch did
// to the delivery's endpoint (disabled it, found it disabled already).
func (s *Service) nextState(f finished, ec *endpointChange, now time.Time, us int64) (outcomeLabel, deliveryUpdate) {
	c, r := f.c, f.res
	n := c.attempts + 1
	first := c.first
	if first.IsZero() {
		first = r.started
	}
	switch classify(r.status) {
	case outcomeDelivered:
		return labelDelivered, deliveryUpdate{status: StatusDelivered, nextAt: -1, finished: us}
	case outcomeGone:
		// The delivery is due at once. Its endpoint disabled (by this 410,
		// or already, say by the platform during the attempt), it waits for
		// it to be re-enabled; a 410 from a URL the endpoint no longer has
		// (it changed during the attempt) disabled nothing, and the
		// delivery goes to the new URL.
		switch {
		case ec.disabled:
			return labelGone, deliveryUpdate{lastError: "410 Gone: endpoint disabled until re-enabled", nextAt: us, finished: -1}
		case ec.wasDisabled:
			reason := ec.reason
			if reason == "" {
				reason = "no reason recorded"
			}
			return labelGone, deliveryUpdate{lastError: "410 Gone: endpoint already disabled (" + logText(reason, 200) +
				"); waits until re-enabled", nextAt: us, finished: -1}
		}
		return labelGone, deliveryUpdate{lastError: "410 Gone from the endpoint's former URL: not disabled, due again at its current URL",
			nextAt: us, finished: -1}
	}
	msg := r.errString()
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", r.status, http.StatusText(r.status))
	}
	at, dead := s.opt.Retry.next(s.opt.Retry.inWindow(int(n), first, r.started), first, now, r.retryAfter, s.rnd)
	if dead {
		s.opt.Log.Warn("webhook dead-lettered", "delivery", c.id, "endpoint", c.t.id, "attempts", n)
		return labelDead, deliveryUpdate{status: StatusDead, lastError: msg, nextAt: -1, finished: us}
	}
	return labelRetry, deliveryUpdate{lastError: msg, nextAt: store.Micros(at), finished: -1}
}
