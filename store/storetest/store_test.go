package storetest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// The storage suite: what every package relies on, checked on both databases.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()

		t.Run("migrations are recorded and idempotent", func(t *testing.T) {
			done, err := db.MigrationsDone(ctx)
			if err != nil || !done {
				t.Fatalf("MigrationsDone = %v, %v", done, err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
		})

		t.Run("rollback leaves nothing", func(t *testing.T) {
			boom := errors.New("boom")
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)`, "rb", "x", 1); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx err = %v", err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name = $1`, "rb").Scan(&n); err != nil || n != 0 {
				t.Fatalf("rolled-back row visible: n=%d err=%v", n, err)
			}
		})

		t.Run("after-commit hooks run only on commit", func(t *testing.T) {
			var ran atomic.Int32
			_ = db.InTx(ctx, func(tx *store.Tx) error { tx.AfterCommit(func() { ran.Add(1) }); return errors.New("no") })
			_ = db.InTx(ctx, func(tx *store.Tx) error { tx.AfterCommit(func() { ran.Add(10) }); return nil })
			if ran.Load() != 10 {
				t.Fatalf("hooks ran %d", ran.Load())
			}
		})

		t.Run("background transactions commit and roll back like InTx", func(t *testing.T) {
			var ran atomic.Int32
			boom := errors.New("boom")
			err := db.InBackgroundTx(ctx, func(tx *store.Tx) error {
				tx.AfterCommit(func() { ran.Add(1) })
				if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)`, "bg-rb", "x", 1); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InBackgroundTx err = %v", err)
			}
			err = db.InBackgroundTx(ctx, func(tx *store.Tx) error {
				tx.AfterCommit(func() { ran.Add(10) })
				_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)`, "bg", "x", 1)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name IN ($1, $2)`, "bg", "bg-rb").Scan(&n); err != nil || n != 1 || ran.Load() != 10 {
				t.Fatalf("rows %d (want only the committed one), hooks %d (want 10), err %v", n, ran.Load(), err)
			}
		})

		t.Run("unique violations are recognised", func(t *testing.T) {
			ins := `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)`
			if _, err := db.ExecContext(ctx, ins, "u", "1", 1); err != nil {
				t.Fatal(err)
			}
			_, err := db.ExecContext(ctx, ins, "u", "2", 2)
			if err == nil || !db.Driver().IsUniqueViolation(err) {
				t.Fatalf("want unique violation, got %v", err)
			}
		})

		t.Run("placeholders repeat and reorder", func(t *testing.T) {
			var a, b string
			err := db.QueryRowContext(ctx, `SELECT $2 || '$1', $1 || $2`, "x", "y").Scan(&a, &b)
			if err != nil || a != "y$1" || b != "xy" {
				t.Fatalf("got %q %q %v", a, b, err)
			}
		})

		t.Run("secrets are created once under races", func(t *testing.T) {
			var wg sync.WaitGroup
			got := make([][]byte, 8)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := store.GetOrCreateSecret(ctx, db, "race", func() ([]byte, error) { return []byte{byte(i)}, nil })
					if err != nil {
						t.Error(err)
					}
					got[i] = v
				}()
			}
			wg.Wait()
			for _, v := range got {
				if string(v) != string(got[0]) {
					t.Fatalf("different secrets returned: %v", got)
				}
			}
		})

		t.Run("concurrent increments are not lost", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('ctr', '0', 0)`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := db.InTx(ctx, func(tx *store.Tx) error {
						_, err := tx.ExecContext(ctx, `UPDATE settings SET updated_at = updated_at + 1 WHERE name = 'ctr'`)
						return err
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT updated_at FROM settings WHERE name = 'ctr'`).Scan(&n); err != nil || n != 20 {
				t.Fatalf("counter = %d, %v", n, err)
			}
		})

		t.Run("a read with ForUpdate is not lost to a concurrent write", func(t *testing.T) {
			// Read, then write what was read plus one: without the lock,
			// PostgreSQL's READ COMMITTED lets two transactions read the
			// same value and one increment is lost.
			if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('fu', '', 0)`); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := db.InTx(ctx, func(tx *store.Tx) error {
						var n int64
						q := `SELECT updated_at FROM settings WHERE name = 'fu' ` + tx.Driver().ForUpdate()
						if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE settings SET updated_at = $1 WHERE name = 'fu'`, n+1)
						return err
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			var n int64
			if err := db.QueryRowContext(ctx, `SELECT updated_at FROM settings WHERE name = 'fu'`).Scan(&n); err != nil || n != 20 {
				t.Fatalf("counter = %d, %v; want 20", n, err)
			}
		})

		t.Run("flushers run before commit, in order, and an error rolls back", func(t *testing.T) {
			var order []string
			count := func(prefix string) int {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name LIKE $1`, prefix+"%").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			err := db.InTx(ctx, func(tx *store.Tx) error {
				a := tx.Flusher("a", func() store.Flusher { return &settingsFlusher{name: "a", order: &order} }).(*settingsFlusher)
				a.rows = append(a.rows, "fl-a1")
				// The same key returns the same flusher.
				again := tx.Flusher("a", func() store.Flusher { t.Fatal("created twice"); return nil }).(*settingsFlusher)
				again.rows = append(again.rows, "fl-a2")
				b := tx.Flusher("b", func() store.Flusher { return &settingsFlusher{name: "b", order: &order} }).(*settingsFlusher)
				b.rows = append(b.rows, "fl-b1")
				// A flusher registered while flushing runs too.
				b.then = &settingsFlusher{name: "c", order: &order, rows: []string{"fl-c1"}}
				if n := count("fl-"); n != 0 {
					t.Errorf("%d rows written before the transaction ended", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := count("fl-"); n != 4 || len(order) != 3 || order[0] != "a" || order[1] != "b" || order[2] != "c" {
				t.Fatalf("%d rows, flush order %v; want 4 rows, [a b c]", n, order)
			}

			boom := errors.New("flush failed")
			err = db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('rb-direct', '', 0)`); err != nil {
					return err
				}
				f := tx.Flusher("a", func() store.Flusher { return &settingsFlusher{name: "a", order: &order, fail: boom} }).(*settingsFlusher)
				f.rows = append(f.rows, "rb-flushed")
				return nil
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx = %v, want the flusher's error", err)
			}
			if n := count("rb-"); n != 0 {
				t.Fatalf("a failed flush left %d rows", n)
			}

			// A transaction that fails itself never flushes.
			order = nil
			_ = db.InTx(ctx, func(tx *store.Tx) error {
				tx.Flusher("a", func() store.Flusher { return &settingsFlusher{name: "a", order: &order, rows: []string{"rb-never"}} })
				return boom
			})
			if n := count("rb-"); n != 0 || len(order) != 0 {
				t.Fatalf("a rolled-back transaction flushed (%d rows, %v)", n, order)
			}
		})

		t.Run("booleans and bytes round-trip", func(t *testing.T) {
			if _, err := db.ExecContext(ctx, `CREATE TABLE rt (b BOOLEAN NOT NULL, x BYTEA)`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO rt (b, x) VALUES ($1, $2)`, true, []byte{0, 1, 255}); err != nil {
				t.Fatal(err)
			}
			var b bool
			var x []byte
			if err := db.QueryRowContext(ctx, `SELECT b, x FROM rt WHERE b = $1`, true).Scan(&b, &x); err != nil || !b || string(x) != "\x00\x01\xff" {
				t.Fatalf("got %v %v %v", b, x, err)
			}
		})
	})
}

// Several processes starting at once on one PostgreSQL database migrate safely.
func TestConcurrentMigrationsPostgres(t *testing.T) {
	t.Parallel()
	u := storetest.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := openPostgres(u)
			if err != nil {
				errs <- err
				return
			}
			db.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// settingsFlusher buffers settings rows and writes them at flush.
type settingsFlusher struct {
	name  string
	order *[]string
	rows  []string
	fail  error
	then  *settingsFlusher // registered while flushing
}

func (f *settingsFlusher) Flush(ctx context.Context, tx *store.Tx) error {
	*f.order = append(*f.order, f.name)
	for _, r := range f.rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, '', 0)`, r); err != nil {
			return err
		}
	}
	if f.then != nil {
		tx.Flusher(f.then.name, func() store.Flusher { return f.then })
	}
	return f.fail
}

// TestCheckSchema: CheckSchema accepts a database at exactly this binary's
// migrations and otherwise names what differs: a migration missing (here
// in the middle, as when an older-numbered one is added later) or one this
// binary does not know (a newer binary applied it).
func TestCheckSchema(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("migrated database: %v", err)
		}
		ms, known := knownMigrations(t, db)
		last, mid := ms[len(ms)-1].Version, ms[len(ms)/2].Version
		if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = $1`, mid); err != nil {
			t.Fatal(err)
		}
		var se *store.SchemaError
		err := db.CheckSchema(ctx)
		if !errors.As(err, &se) || se.Applied != last || se.Expected != last || se.Missing != mid || se.Unknown != 0 ||
			!strings.Contains(err.Error(), fmt.Sprintf("lacks %04d", mid)) {
			t.Errorf("migration %d missing: %#v %v", mid, se, err)
		}
		unknown := 2
		for known[unknown] {
			unknown++
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'elsewhere', 0)`, unknown); err != nil {
			t.Fatal(err)
		}
		err = db.CheckSchema(ctx)
		if !errors.As(err, &se) || se.Unknown != unknown || !strings.Contains(err.Error(), fmt.Sprintf("does not know migration %04d", unknown)) {
			t.Errorf("unknown migration %d: %#v %v", unknown, se, err)
		}
	})
}

// knownMigrations returns this binary's migrations for db and their
// versions as a set.
func knownMigrations(t *testing.T, db *store.DB) ([]store.Migration, map[int]bool) {
	t.Helper()
	ms, err := store.Migrations(db.Driver().MigrationVariant())
	if err != nil {
		t.Fatal(err)
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	return ms, known
}

// TestMigrationsDone: /readyz's check is true exactly when every migration
// this binary knows is applied, whatever else schema_migrations records. A
// missing version is not made up for by an extra row, and a version this
// binary does not know (a newer vaspd applied it) does not make the
// database unready: `vaspd serve`'s Migrate runs on such a database too
// (it applies what it lacks and leaves the rest), as in a rolling upgrade.
func TestMigrationsDone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		done := func(want bool, when string) {
			t.Helper()
			if got, err := db.MigrationsDone(ctx); err != nil || got != want {
				t.Errorf("%s: MigrationsDone = %v, %v; want %v", when, got, err, want)
			}
		}
		done(true, "migrated")
		ms, known := knownMigrations(t, db)
		unknown := func(from int) int {
			for known[from] {
				from++
			}
			return from
		}
		ins := `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'elsewhere', 0)`
		newer := unknown(ms[len(ms)-1].Version + 1)
		if _, err := db.ExecContext(ctx, ins, newer); err != nil {
			t.Fatal(err)
		}
		done(true, fmt.Sprintf("with a newer vaspd's migration %04d", newer))

		mid := ms[len(ms)/2].Version
		if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = $1`, mid); err != nil {
			t.Fatal(err)
		}
		done(false, fmt.Sprintf("lacking %04d, with one extra row", mid))
		if _, err := db.ExecContext(ctx, ins, unknown(2)); err != nil {
			t.Fatal(err)
		}
		done(false, fmt.Sprintf("lacking %04d, with two extra rows", mid))
		if _, err := db.ExecContext(ctx, ins, mid); err != nil {
			t.Fatal(err)
		}
		done(true, fmt.Sprintf("%04d recorded again, with two extra rows", mid))
	})
}

// TestUnknownMigrations: the versions a newer vaspd recorded, with their
// names, in order; none on a database at exactly this binary's.
func TestUnknownMigrations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if got, err := db.UnknownMigrations(ctx); err != nil || len(got) != 0 {
			t.Fatalf("migrated database: %v, %v; want none", got, err)
		}
		for _, v := range []string{`(9999, 'latest', 0)`, `(9998, 'later', 0)`} {
			if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES `+v); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.UnknownMigrations(ctx)
		if err != nil || len(got) != 2 || got[0].Version != 9998 || got[0].Name != "later" || got[1].Version != 9999 || got[1].Name != "latest" {
			t.Fatalf("with two newer migrations: %+v, %v", got, err)
		}
	})
}
