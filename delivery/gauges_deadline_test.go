package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A refresh of the queue gauges whose query hangs (here: a PostgreSQL
// lock on the deliveries table that another transaction holds) gives up
// after gaugesTimeout: it waited as long as the query did, and maintain,
// which runs it, with it — replay jobs and retention pruning included.
func TestGaugesRefreshIsBounded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Driver().Name() != "postgres" {
			t.Skip("SQLite's readers never wait for a writer")
		}
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Registerer = prometheus.NewRegistry() })
		locked := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.ExecContext(ctx, `LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE`); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		select {
		case <-locked:
		case err := <-done:
			t.Fatal(err)
		}
		refreshed := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(refreshed)
			s.refreshGauges(ctx)
		}()
		select {
		case <-refreshed:
		case <-time.After(gaugesTimeout + 10*time.Second): // a watchdog: the bound is gaugesTimeout
			close(release)
			<-refreshed
			t.Fatalf("the gauges' refresh waited for the lock until it was released (%s)", time.Since(start).Round(time.Second))
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
