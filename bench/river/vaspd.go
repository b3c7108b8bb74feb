package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

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
		u, drop, err := newSchema(ctx, pgURL)
		if err != nil {
			return 0, 0, err
		}
		defer drop()
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

// newSchema creates an empty schema and returns a URL whose search_path
// points at it, and a function dropping it.
func newSchema(ctx context.Context, base string) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "riverbench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
