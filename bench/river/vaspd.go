package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
)

// runVaspd runs the workload on vaspd's delivery package with a fresh database.
func runVaspd(ctx context.Context, rc *receiver, dbKind, pgURL string, n, conc int) (enqueue, total time.Duration, err error) {
	var db *store.DB
	switch dbKind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "vaspdbench")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(dir)
		if db, err = sqlite.Open(ctx, filepath.Join(dir, "vaspd.db"), nil); err != nil {
			return 0, 0, err
		}
	case "postgres":
		u, drop, err := postgres.NewSchema(ctx, pgURL, "riverbench_")
		if err != nil {
			return 0, 0, err
		}
		defer func() { _ = drop() }()
		if db, err = postgres.Open(ctx, u, nil); err != nil {
			return 0, 0, err
		}
	}
	defer db.Close()
	svc, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.1/32"}, PerEndpoint: conc})
	if err != nil {
		return 0, 0, err
	}
	if _, _, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &rc.url}); err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(rctx)
	}()
	defer func() { cancel(); <-done }()

	start := time.Now()
	for i := 0; i < n; i += 100 {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for j := i; j < min(i+100, n); j++ {
				if _, err := svc.Enqueue(ctx, tx, delivery.Event{Type: delivery.TypeOutgoingPayment, Data: payload}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, fmt.Errorf("enqueue: %w", err)
		}
	}
	enqueue = time.Since(start)
	if err := waitFor(ctx, 3*time.Minute, "the receiver", func() (bool, error) { return rc.distinct() >= n, nil }); err != nil {
		return 0, 0, err
	}
	if err := waitFor(ctx, time.Minute, "completions", func() (bool, error) {
		var c int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'delivered'`).Scan(&c)
		return c >= n, err
	}); err != nil {
		return 0, 0, err
	}
	return enqueue, time.Since(start), nil
}
