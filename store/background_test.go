package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// holdWriteLock starts a write transaction on db that holds the write lock
// until the returned function is called; that function waits for it to
// commit.
func holdWriteLock(t *testing.T, db *DB) (release func()) {
	t.Helper()
	held, rel, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.InTx(context.Background(), func(tx *Tx) error {
			close(held)
			<-rel
			return nil
		})
	}()
	<-held
	return func() {
		close(rel)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// On SQLite an application transaction that queues behind a background one
// still commits first.
func TestInBackgroundTxYieldsToInTx(t *testing.T) {
	ctx := context.Background()
	db := openCached(t, 16)
	db.wlock.patience = time.Hour
	insert := func(k string) func(tx *Tx) error {
		return func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, 0)`, k)
			return err
		}
	}
	release := holdWriteLock(t, db)
	errs := make(chan error, 2)
	go func() { errs <- db.InBackgroundTx(ctx, insert("background")) }()
	waitQueued(t, db.wlock, 0, 1)
	go func() { errs <- db.InTx(ctx, insert("foreground")) }()
	waitQueued(t, db.wlock, 1, 1)
	release()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT k FROM kv ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if strings.Join(got, " ") != "foreground background" {
		t.Fatalf("committed in the order %q, want the foreground transaction first", got)
	}
}

// Waiting for the write lock ends with the context, for both kinds of
// transaction, and leaves the lock usable.
func TestInTxContextEndsWaitForWriteLock(t *testing.T) {
	db := openCached(t, 16)
	for name, inTx := range map[string]func(context.Context, func(*Tx) error) error{
		"InTx": db.InTx, "InBackgroundTx": db.InBackgroundTx,
	} {
		release := holdWriteLock(t, db)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		errc := make(chan error, 1)
		go func() { errc <- inTx(ctx, func(*Tx) error { return errors.New("ran without the lock") }) }()
		select {
		case err := <-errc:
			if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "begin: ") {
				t.Errorf("%s: err = %v, want \"begin: …\" wrapping the deadline", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s ignored its context while waiting for the write lock", name)
		}
		cancel()
		release()
		if err := db.InTx(context.Background(), func(*Tx) error { return nil }); err != nil {
			t.Fatalf("after %s gave up: %v", name, err)
		}
		checkFree(t, db.wlock)
	}
}

// AfterCommit callbacks still run with the write lock held (the webhook
// engine relies on it), and a background transaction has the same contract
// as InTx.
func TestInBackgroundTxAfterCommitUnderLock(t *testing.T) {
	ctx := context.Background()
	db := openCached(t, 16)
	var heldInCallback bool
	err := db.InBackgroundTx(ctx, func(tx *Tx) error {
		tx.AfterCommit(func() { heldInCallback = db.wlock.state.Load()&wlLocked != 0 })
		_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, 1)`, "a")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !heldInCallback {
		t.Fatal("AfterCommit ran after the write lock was released")
	}
	checkFree(t, db.wlock)
}
