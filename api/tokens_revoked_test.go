package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestCreateTokenByRevokedToken: a token deleted while its POST /tokens is
// served (authenticated before the delete committed, its new token not
// yet written) mints nothing: the request is refused 401, so that a
// revoked credential cannot leave a successor behind it. Here the delete
// is a transaction of the test's, held open until the request waits on it
// (PostgreSQL: blocked on a lock; SQLite: given time to authenticate), and
// then committed.
func TestCreateTokenByRevokedToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := context.Background()
		type answer struct {
			status int
			body   map[string]any
		}
		done := make(chan answer, 1)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			pg := tx.Driver().Name() == "postgres"
			if pg {
				// Keeps the request's INSERT of its new token waiting (its
				// reads pass), as a slow moment between its authentication
				// and its write would.
				if _, err := tx.ExecContext(ctx, `LOCK TABLE api_tokens IN SHARE MODE`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET deleted_at = $2, updated_at = $2 WHERE id = $1`,
				f.admin.ClientID, store.Micros(time.Now())); err != nil {
				return err
			}
			go func() {
				st, body := f.do(t, "POST", "/tokens", &f.admin, "application/json", `{"name":"successor","permissions":["VIEW","TRANSACT","MANAGE"]}`)
				done <- answer{st, body}
			}()
			if !pg {
				time.Sleep(500 * time.Millisecond) // authenticated (a read, which the write lock lets pass), now waiting to write
				return nil
			}
			return waitForLockWaiter(t, ctx, db, tx, done)
		})
		if err != nil {
			t.Fatal(err)
		}
		a := <-done
		wantError(t, a.status, a.body, http.StatusUnauthorized, "UNAUTHORIZED")
		if n, err := f.tokens.Count(ctx); err != nil || n != 1 {
			t.Fatalf("live tokens: %d, %v; want the viewer alone", n, err)
		}
		// Its audit event says so.
		var status int
		var code string
		if err := db.QueryRowContext(ctx, `SELECT status, error_code FROM audit_events WHERE route = 'POST /tokens'`).
			Scan(&status, &code); err != nil || status != http.StatusUnauthorized || code != "UNAUTHORIZED" {
			t.Fatalf("audit outcome: %d %q, %v", status, code, err)
		}
	})
}

// TestDeleteTokenByRevokedToken: likewise, a token deleted while its
// DELETE /tokens/{tokenId} is served deletes nothing: the request is
// refused 401 and its target lives.
func TestDeleteTokenByRevokedToken(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := context.Background()
		caller, err := f.tokens.Create(ctx, "caller", []vaspd.Permission{vaspd.PermManage})
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			status int
			body   map[string]any
		}
		done := make(chan answer, 1)
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET deleted_at = $2, updated_at = $2 WHERE id = $1`,
				caller.ClientID, store.Micros(time.Now())); err != nil {
				return err
			}
			go func() {
				st, body := f.do(t, "DELETE", "/tokens/"+f.viewer.ClientID, &caller, "", "")
				done <- answer{st, body}
			}()
			if tx.Driver().Name() != "postgres" {
				time.Sleep(500 * time.Millisecond) // authenticated (a read), now waiting to write
				return nil
			}
			return waitForLockWaiter(t, ctx, db, tx, done)
		})
		if err != nil {
			t.Fatal(err)
		}
		a := <-done
		wantError(t, a.status, a.body, http.StatusUnauthorized, "UNAUTHORIZED")
		if _, err := f.tokens.Get(ctx, f.viewer.ClientID); err != nil {
			t.Fatalf("the target: %v", err)
		}
	})
}

// waitForLockWaiter returns once a session of db's PostgreSQL database
// waits for a lock on api_tokens that tx holds (the request, for the
// test's transaction: other tests share the database, each in its schema,
// and one's waiter on its own api_tokens must not end another's wait),
// failing t if the request answers first (done) or none waits within 10 s.
func waitForLockWaiter[A any](t *testing.T, ctx context.Context, db *store.DB, tx *store.Tx, done <-chan A) error {
	t.Helper()
	var holder int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&holder); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%api_tokens%'
				AND $1 = ANY(pg_blocking_pids(pid))`, holder).Scan(&waiting); err != nil {
			return err
		}
		if waiting > 0 {
			return nil
		}
		select {
		case a := <-done:
			t.Fatalf("the request did not wait for the delete: %v", a)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the request never waited for the delete")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
