package api_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/store/storetest"
)

// /readyz is public and unthrottled, and its check asks the database: a
// flood of it from the internet must not become a flood of database round
// trips. The check runs at most once a second, the requests in between
// (and those waiting on a check under way) answered its result.
func TestReadyzChecksAtMostOnceASecond(t *testing.T) {
	t.Parallel()
	clock := vaspd.NewFakeClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	var checks atomic.Int64
	var down atomic.Bool
	f := newFixtureOpts(t, storetest.SQLite(t), func(o *api.Options) {
		o.Clock = clock
		o.Ready = func(context.Context) error {
			checks.Add(1)
			time.Sleep(10 * time.Millisecond) // a round trip
			if down.Load() {
				return errors.New("database unreachable")
			}
			return nil
		}
	}, nil, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if st, body := f.do(t, "GET", "/readyz", nil, "", ""); st != 200 || body["status"] != "ready" {
				t.Errorf("readyz: %d %v", st, body)
			}
		})
	}
	wg.Wait()
	if n := checks.Load(); n != 1 {
		t.Fatalf("20 requests within a second made %d checks, want 1", n)
	}
	down.Store(true)
	clock.Advance(time.Second)
	for range 5 {
		if st, body := f.do(t, "GET", "/readyz", nil, "", ""); st != 503 || body["reason"] != "database unreachable" {
			t.Fatalf("readyz a second later, the database down: %d %v", st, body)
		}
	}
	if n := checks.Load(); n != 2 {
		t.Fatalf("%d checks, want 2: one a second", n)
	}
}
