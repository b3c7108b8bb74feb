package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// Checkpoints.
//
// In WAL mode SQLite appends every commit to the write-ahead log and copies
// the log back into the database file at a checkpoint. Left to itself it
// checkpoints inside whichever commit takes the log past wal_autocheckpoint
// pages (1000 by default): that commit copies the pages and syncs the file
// while it holds the write lock, and vaspd's writers, serialised in
// process, all wait behind it.
//
// So a goroutine runs PASSIVE checkpoints on its own connection every
// checkpointInterval: they copy what no reader still needs, concurrently
// with the writer, and never wait for it. SQLite's own automatic checkpoint
// stays as the backstop, at a threshold high enough (walBackstopPages) that
// it only fires if the background one falls far behind.
//
// Measured (docs/payments-benchmarks.md, docs/webhook-engine-benchmarks.md):
// payreqs/s +8–20 % and CPU per payreq −4–10 %; webhook enqueues/s +15–35 %
// (deliveries/s unchanged: the checkpoint's copying still takes CPU, only
// no longer inside a commit).
//
// Every 50 ms rather than 200 (round 10): each checkpoint then has a
// quarter of the pages to copy and sync, and a commit that lands during
// the sync stalls for less. The healthy endpoint's p99 in the isolation
// benchmark went from 1.1–2.0 ms to 0.9 ms; at 2 s it was 2.0–3.9 ms. An
// idle database's checkpoint finds nothing to copy and costs a query.

const (
	checkpointInterval = 50 * time.Millisecond
	walBackstopPages   = 10000 // ≈ 40 MiB of log at 4 KiB pages
)

// checkpointLoop runs until ctx ends.
func checkpointLoop(ctx context.Context, db *sql.DB, log *slog.Logger) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var busy, frames, done int
		err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			log.Warn("sqlite checkpoint failed; SQLite's automatic checkpoint remains", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
	}
}
