package delivery

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// An endpoint's timeoutMs has a floor (Options.MinAttemptTimeout, 1 s by
// default) as it has a cap: 1 ms was accepted, and every attempt then
// timed out and was retried for the whole retry window. 0 still means the
// default; creation and changes are refused below the floor, as above the
// cap, and a refused change leaves the endpoint as it was.
func TestEndpointTimeoutFloor(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t, storetest.SQLite(t), vaspd.NewFakeClock(t0))
	url := "https://example.com/hook"
	for _, ms := range []int64{1, 999, -1, 60_001} {
		_, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: &url, TimeoutMS: &ms})
		if e := vaspd.AsError(err); e.Code != vaspd.CodeInvalidInput || !strings.Contains(e.Message, "1000 to 60000") {
			t.Fatalf("create with timeoutMs %d: %v, want %s naming 1000 to 60000", ms, err, vaspd.CodeInvalidInput)
		}
	}
	for _, ms := range []int64{0, 1000, 60_000} {
		if _, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: &url, TimeoutMS: &ms}); err != nil {
			t.Fatalf("create with timeoutMs %d: %v", ms, err)
		}
	}
	ep, _ := mustEndpoint(t, s, url, func(in *EndpointInput) { in.TimeoutMS = ptr(int64(2000)) })
	if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{TimeoutMS: ptr(int64(1))}); vaspd.AsError(err).Code != vaspd.CodeInvalidInput {
		t.Fatalf("update to timeoutMs 1: %v, want %s", err, vaspd.CodeInvalidInput)
	}
	if got, err := s.GetEndpoint(ctx, ep.ID); err != nil || got.TimeoutMS != 2000 {
		t.Fatalf("after a refused update: %+v, %v", got, err)
	}
}

// An endpoint an earlier vaspd stored with a timeout below the floor is
// attempted with the floor: a receiver answering in 150 ms gets its
// webhook, instead of every attempt timing out.
func TestEndpointTimeoutBelowFloorStoredEarlier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		rc := newReceiver(t)
		rc.set(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(150 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
		})
		ep, _ := mustEndpoint(t, s, rc.URL)
		if _, err := db.ExecContext(ctx, `UPDATE webhook_endpoints SET timeout_ms = 1 WHERE id = $1`, ep.ID); err != nil {
			t.Fatal(err)
		}
		id := enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		if d := onlyDelivery(t, s, id); d.Status != StatusDelivered {
			t.Fatalf("delivery to an endpoint stored with timeoutMs 1: %s (%s), want delivered", d.Status, d.LastError)
		}
	})
}

// The default timeout of an attempt (AttemptTimeout, the webhook-timeout
// setting) has the bounds of an endpoint's own: New refuses one below
// MinAttemptTimeout, with which every attempt to an endpoint without a
// timeout of its own would time out and be retried for days, or above
// MaxAttemptTimeout.
func TestDefaultAttemptTimeoutBounds(t *testing.T) {
	db := storetest.SQLite(t)
	for _, d := range []time.Duration{time.Millisecond, DefaultMinAttemptTimeout - 1, DefaultMaxAttemptTimeout + 1} {
		_, err := New(db, Options{AttemptTimeout: d})
		if err == nil || !strings.Contains(err.Error(), "AttemptTimeout "+d.String()+" is outside MinAttemptTimeout 1s to MaxAttemptTimeout 1m0s") {
			t.Errorf("AttemptTimeout %s: %v, want it refused naming the bounds", d, err)
		}
	}
	for _, d := range []time.Duration{0, DefaultMinAttemptTimeout, DefaultMaxAttemptTimeout} {
		if _, err := New(db, Options{AttemptTimeout: d}); err != nil {
			t.Errorf("AttemptTimeout %s: %v", d, err)
		}
	}
	if _, err := New(db, Options{AttemptTimeout: 100 * time.Millisecond, MinAttemptTimeout: 50 * time.Millisecond}); err != nil {
		t.Errorf("AttemptTimeout 100ms above a floor of 50ms: %v", err)
	}
}
