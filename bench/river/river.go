package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/webhook"
)

// riverVersion is the River module this binary was built with.
var riverVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/riverqueue/river" {
				return m.Version
			}
		}
	}
	return "unknown"
}()

type deliverArgs struct {
	WebhookID string          `json:"webhookId"`
	Body      json.RawMessage `json:"body"`
}

func (deliverArgs) Kind() string { return "webhook_delivery" }

// deliverWorker does what one delivery attempt does: sign the stored body,
// POST it, read at most 8 KiB of the answer, succeed on 2xx.
type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	client *http.Client
	url    string
	secret string
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(job.Args.Body))
	if err != nil {
		return err
	}
	h, err := webhook.Sign(webhook.Keys{Secrets: []string{w.secret}}, job.Args.WebhookID, time.Now(), job.Args.Body)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 8<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func riverConfig(rc *receiver, conc int) (*river.Config, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 1024},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	river.AddWorker(workers, &deliverWorker{client: client, url: rc.url, secret: secret})
	return &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: conc}},
		Workers: workers,
		// Tuned for River: fetch again soon after a fetch (default 100 ms)
		// and poll often (default 1 s) where there is no LISTEN/NOTIFY.
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
	}, nil
}

func riverBatch(n int) []river.InsertManyParams {
	out := make([]river.InsertManyParams, 0, n)
	for i := 0; i < n; i++ {
		id := vaspd.NewID(vaspd.IDWebhook)
		out = append(out, river.InsertManyParams{Args: deliverArgs{WebhookID: id, Body: body(id)}})
	}
	return out
}

// runRiver runs the workload on River with a fresh database.
func runRiver(ctx context.Context, rc *receiver, dbKind, url string, n, conc int) (enqueue, total time.Duration, err error) {
	cfg, err := riverConfig(rc, conc)
	if err != nil {
		return 0, 0, err
	}
	var (
		start     time.Time
		insert    func(params []river.InsertManyParams) error
		completed func() (int, error)
		stop      func()
	)
	switch dbKind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "riverbench")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(dir)
		// The same pragmas as vaspd's store/sqlite; one connection, as the
		// riversqlite documentation recommends.
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "r.db")+
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			return 0, 0, err
		}
		db.SetMaxOpenConns(1)
		defer db.Close()
		drv := riversqlite.New(db)
		if err := migrateRiver(ctx, drv); err != nil {
			return 0, 0, err
		}
		client, err := river.NewClient(drv, cfg)
		if err != nil {
			return 0, 0, err
		}
		if err := client.Start(ctx); err != nil {
			return 0, 0, err
		}
		stop = func() { _ = client.Stop(context.Background()) }
		insert = func(params []river.InsertManyParams) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := client.InsertManyFastTx(ctx, tx, params); err != nil {
				return err
			}
			return tx.Commit()
		}
		completed = func() (int, error) {
			var c int
			err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'completed'`).Scan(&c)
			return c, err
		}
	case "postgres":
		u, drop, err := postgres.NewSchema(ctx, url, "riverbench_")
		if err != nil {
			return 0, 0, err
		}
		defer func() { _ = drop() }()
		pcfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			return 0, 0, err
		}
		pcfg.MaxConns = 20 // as vaspd's store/postgres
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return 0, 0, err
		}
		defer pool.Close()
		drv := riverpgxv5.New(pool)
		if err := migrateRiver(ctx, drv); err != nil {
			return 0, 0, err
		}
		client, err := river.NewClient(drv, cfg)
		if err != nil {
			return 0, 0, err
		}
		if err := client.Start(ctx); err != nil {
			return 0, 0, err
		}
		stop = func() { _ = client.Stop(context.Background()) }
		insert = func(params []river.InsertManyParams) error {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if _, err := client.InsertManyFastTx(ctx, tx, params); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}
		completed = func() (int, error) {
			var c int
			err := pool.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'completed'`).Scan(&c)
			return c, err
		}
	}
	defer stop()
	start = time.Now()
	for i := 0; i < n; i += 100 {
		if err := insert(riverBatch(min(100, n-i))); err != nil {
			return 0, 0, fmt.Errorf("insert: %w", err)
		}
	}
	enqueue = time.Since(start)
	if err := waitFor(ctx, 3*time.Minute, "the receiver", func() (bool, error) { return rc.distinct() >= n, nil }); err != nil {
		return 0, 0, err
	}
	if err := waitFor(ctx, time.Minute, "completions", func() (bool, error) {
		c, err := completed()
		return c >= n, err
	}); err != nil {
		return 0, 0, err
	}
	return enqueue, time.Since(start), nil
}

func migrateRiver[TTx any](ctx context.Context, drv riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate River: %w", err)
	}
	return nil
}
