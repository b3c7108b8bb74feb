package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// fakeClock is a settable clock shared by a store under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1795330805, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// storeCase builds a fresh, empty store using clock.
type storeCase struct {
	name string
	open func(t *testing.T, clock *fakeClock) Store
}

func storeCases() []storeCase {
	cases := []storeCase{
		{"memory", func(t *testing.T, clock *fakeClock) Store { return &MemoryStore{Now: clock.Now} }},
		{"sqlite", func(t *testing.T, clock *fakeClock) Store {
			// A file, not :memory:, so that several connections share it.
			dsn := "file:" + filepath.Join(t.TempDir(), "receipts.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
			return openSQLStore(t, "sqlite", dsn, clock, "")
		}},
		// vaspd's own database: the table comes from migration 0240.
		{"store.DB sqlite", func(t *testing.T, clock *fakeClock) Store { return openDBStore(t, storetest.SQLite(t), clock) }},
	}
	if url := os.Getenv("VASPD_TEST_POSTGRES_URL"); url != "" {
		cases = append(cases, storeCase{"postgres", func(t *testing.T, clock *fakeClock) Store {
			table := fmt.Sprintf("webhook_receipts_test_%d", time.Now().UnixNano())
			s := openSQLStore(t, "pgx", url, clock, table)
			t.Cleanup(func() {
				db, err := sql.Open("pgx", url)
				if err == nil {
					db.Exec("DROP TABLE IF EXISTS " + table)
					db.Close()
				}
			})
			return s
		}}, storeCase{"store.DB postgres", func(t *testing.T, clock *fakeClock) Store {
			return openDBStore(t, storetest.Postgres(t), clock)
		}})
	}
	return cases
}

func openDBStore(t *testing.T, db *store.DB, clock *fakeClock) *SQLStore {
	t.Helper()
	s, err := NewDBStore(db)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = clock.Now
	return s
}

func openSQLStore(t *testing.T, driver, dsn string, clock *fakeClock, table string) *SQLStore {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := NewSQLStore(db, table)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = clock.Now
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	// CreateTable is idempotent.
	if err := s.CreateTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	if os.Getenv("VASPD_TEST_POSTGRES_URL") == "" {
		t.Log("VASPD_TEST_POSTGRES_URL unset: PostgreSQL store not tested")
	}
	ctx := context.Background()
	const lease, retain = time.Minute, time.Hour
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Run("lifecycle", func(t *testing.T) {
				clock := newFakeClock()
				s := sc.open(t, clock)
				tok, err := s.Claim(ctx, "Webhook:a", lease)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Claim(ctx, "Webhook:a", lease); !errors.Is(err, ErrInProgress) {
					t.Fatalf("second claim: %v, want ErrInProgress", err)
				}
				if _, err := s.Claim(ctx, "Webhook:b", lease); err != nil {
					t.Fatalf("other id: %v", err)
				}
				if err := s.Complete(ctx, "Webhook:a", "wrong-token", retain); !errors.Is(err, ErrClaimLost) {
					t.Fatalf("complete with a wrong token: %v", err)
				}
				if err := s.Complete(ctx, "Webhook:a", tok, retain); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Claim(ctx, "Webhook:a", lease); !errors.Is(err, ErrDuplicate) {
					t.Fatalf("claim after complete: %v, want ErrDuplicate", err)
				}
				// Completing again with the same token (a retry of a
				// completion whose answer was lost) succeeds and changes
				// nothing: not the retention either.
				clock.Advance(time.Second)
				if err := s.Complete(ctx, "Webhook:a", tok, retain); err != nil {
					t.Fatalf("second complete with the same token: %v, want nil", err)
				}
				clock.Advance(-time.Second)
				if err := s.Complete(ctx, "Webhook:a", "wrong-token", retain); !errors.Is(err, ErrClaimLost) {
					t.Fatalf("complete of a done id with another token: %v, want ErrClaimLost", err)
				}
				// Release of a done id changes nothing.
				if err := s.Release(ctx, "Webhook:a", tok); err != nil {
					t.Fatal(err)
				}
				clock.Advance(retain - time.Second)
				if _, err := s.Claim(ctx, "Webhook:a", lease); !errors.Is(err, ErrDuplicate) {
					t.Fatalf("claim just before retention ends: %v", err)
				}
				clock.Advance(time.Second)
				if _, err := s.Claim(ctx, "Webhook:a", lease); err != nil {
					t.Fatalf("claim after retention: %v", err)
				}
			})
			t.Run("release lets a retry run", func(t *testing.T) {
				clock := newFakeClock()
				s := sc.open(t, clock)
				tok, _ := s.Claim(ctx, "Webhook:r", lease)
				if err := s.Release(ctx, "Webhook:r", "not-mine"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Claim(ctx, "Webhook:r", lease); !errors.Is(err, ErrInProgress) {
					t.Fatalf("a wrong token released the claim: %v", err)
				}
				if err := s.Release(ctx, "Webhook:r", tok); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Claim(ctx, "Webhook:r", lease); err != nil {
					t.Fatalf("claim after release: %v", err)
				}
			})
			t.Run("expired lease is taken over", func(t *testing.T) {
				clock := newFakeClock()
				s := sc.open(t, clock)
				stale, _ := s.Claim(ctx, "Webhook:l", lease)
				clock.Advance(lease)
				fresh, err := s.Claim(ctx, "Webhook:l", lease)
				if err != nil {
					t.Fatalf("claim after lease: %v", err)
				}
				// The stale holder can neither complete nor release.
				if err := s.Complete(ctx, "Webhook:l", stale, retain); !errors.Is(err, ErrClaimLost) {
					t.Fatalf("stale complete: %v", err)
				}
				s.Release(ctx, "Webhook:l", stale)
				if _, err := s.Claim(ctx, "Webhook:l", lease); !errors.Is(err, ErrInProgress) {
					t.Fatalf("stale release freed the new claim: %v", err)
				}
				if err := s.Complete(ctx, "Webhook:l", fresh, retain); err != nil {
					t.Fatal(err)
				}
				// Nor complete once the new holder has: its token is not
				// the one the id was done under.
				if err := s.Complete(ctx, "Webhook:l", stale, retain); !errors.Is(err, ErrClaimLost) {
					t.Fatalf("stale complete after the new holder's: %v", err)
				}
			})
			t.Run("expired lease purged completes", func(t *testing.T) {
				// A claim forgotten after its lease (Purge, or a MemoryStore's
				// sweep) while its handler ran is completed all the same when
				// no other request claimed the id meanwhile: the event was
				// processed. One claimed again after the purge is lost.
				clock := newFakeClock()
				s := sc.open(t, clock)
				forget := func() {
					t.Helper()
					clock.Advance(lease)
					if sq, ok := s.(*SQLStore); ok {
						if _, err := sq.Purge(ctx); err != nil {
							t.Fatal(err)
						}
					} else if _, err := s.Claim(ctx, "Webhook:sweeper", time.Nanosecond); err != nil {
						t.Fatal(err)
					}
				}
				tok, _ := s.Claim(ctx, "Webhook:p", lease)
				forget()
				if err := s.Complete(ctx, "Webhook:p", tok, retain); err != nil {
					t.Fatalf("complete of a purged claim: %v, want nil", err)
				}
				if _, err := s.Claim(ctx, "Webhook:p", lease); !errors.Is(err, ErrDuplicate) {
					t.Fatalf("claim after it: %v, want ErrDuplicate", err)
				}
				// Again, as a retry of a completion whose answer was lost.
				if err := s.Complete(ctx, "Webhook:p", tok, retain); err != nil {
					t.Fatalf("second complete: %v, want nil", err)
				}
				if err := s.Complete(ctx, "Webhook:p", "wrong-token", retain); !errors.Is(err, ErrClaimLost) {
					t.Fatalf("complete with another token: %v, want ErrClaimLost", err)
				}

				stale, _ := s.Claim(ctx, "Webhook:q", lease)
				forget()
				fresh, err := s.Claim(ctx, "Webhook:q", lease)
				if err != nil {
					t.Fatalf("claim after the purge: %v", err)
				}
				if err := s.Complete(ctx, "Webhook:q", stale, retain); !errors.Is(err, ErrClaimLost) {
					t.Fatalf("complete of a purged claim taken over: %v, want ErrClaimLost", err)
				}
				if _, err := s.Claim(ctx, "Webhook:q", lease); !errors.Is(err, ErrInProgress) {
					t.Fatalf("the stale complete ended the new claim: %v, want ErrInProgress", err)
				}
				if err := s.Complete(ctx, "Webhook:q", fresh, retain); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("concurrent claims", func(t *testing.T) {
				clock := newFakeClock()
				s := sc.open(t, clock)
				const n = 8
				for round := range 5 {
					id := fmt.Sprintf("Webhook:c%d", round)
					var won, busy atomic.Int32
					var wg sync.WaitGroup
					start := make(chan struct{})
					for range n {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							_, err := s.Claim(ctx, id, lease)
							switch {
							case err == nil:
								won.Add(1)
							case errors.Is(err, ErrInProgress):
								busy.Add(1)
							default:
								t.Errorf("claim: %v", err)
							}
						}()
					}
					close(start)
					wg.Wait()
					if won.Load() != 1 || busy.Load() != n-1 {
						t.Fatalf("round %d: %d won, %d busy; want 1 and %d", round, won.Load(), busy.Load(), n-1)
					}
				}
			})
		})
	}
}

func TestSQLStorePurgeAndNames(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	dsn := "file:" + filepath.Join(t.TempDir(), "p.db")
	s := openSQLStore(t, "sqlite", dsn, clock, "my_receipts")
	tok, _ := s.Claim(ctx, "Webhook:done", time.Minute)
	s.Complete(ctx, "Webhook:done", tok, time.Hour)
	s.Claim(ctx, "Webhook:abandoned", time.Minute)
	s.Claim(ctx, "Webhook:fresh", 2*time.Hour)
	clock.Advance(time.Hour)
	n, err := s.Purge(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	if _, err := s.Claim(ctx, "Webhook:fresh", time.Minute); !errors.Is(err, ErrInProgress) {
		t.Fatalf("purge removed a live claim: %v", err)
	}
	for _, bad := range []string{"x; DROP TABLE y", "Receipts", "1abc", "a-b"} {
		if _, err := NewSQLStore(s.db.(*sql.DB), bad); err == nil {
			t.Errorf("table name %q accepted", bad)
		}
	}
	if _, err := NewSQLStore(nil, ""); err == nil {
		t.Error("nil db accepted")
	}
	if _, err := NewDBStore(nil); err == nil {
		t.Error("nil store.DB accepted")
	}
}

// Several receiver instances starting together each call CreateTable on one
// PostgreSQL database. Concurrent CREATE TABLE IF NOT EXISTS of one table
// fails on PostgreSQL (a unique violation in pg_type), which would stop
// every instance but the first at start-up.
func TestSQLStoreCreateTableConcurrently(t *testing.T) {
	url := os.Getenv("VASPD_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("VASPD_TEST_POSTGRES_URL unset")
	}
	const instances = 6
	for round := range 3 {
		table := fmt.Sprintf("webhook_receipts_race_%d_%d", time.Now().UnixNano(), round)
		t.Cleanup(func() {
			if db, err := sql.Open("pgx", url); err == nil {
				db.Exec("DROP TABLE IF EXISTS " + table)
				db.Close()
			}
		})
		stores := make([]*SQLStore, instances)
		for i := range stores {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Ping(); err != nil {
				t.Fatal(err)
			}
			if stores[i], err = NewSQLStore(db, table); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, instances)
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.CreateTable(context.Background())
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, instance %d: %v", round, i, err)
			}
		}
		if _, err := stores[0].Claim(context.Background(), "Webhook:after-race", time.Minute); err != nil {
			t.Fatalf("round %d: claim in the created table: %v", round, err)
		}
	}
}

// A platform opening SQLite the plain way (no busy_timeout in the DSN) gets
// SQLITE_BUSY as soon as two requests write at once. Every such error was a
// 500 (and for vaspd's synchronous approval webhook, sent once, a rejected
// payment): the store must wait for the lock instead.
func TestSQLStoreSQLiteWithoutBusyTimeout(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "receipts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := NewSQLStore(db, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 20
	var wg sync.WaitGroup
	var failed atomic.Int32
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				id := fmt.Sprintf("Webhook:%d-%d", w, i)
				tok, err := s.Claim(ctx, id, time.Minute)
				if err == nil {
					if i%2 == 0 {
						err = s.Complete(ctx, id, tok, time.Hour)
					} else {
						err = s.Release(ctx, id, tok)
					}
				}
				if err == nil && i%5 == 0 {
					_, err = s.Purge(ctx)
				}
				if err != nil {
					if failed.Add(1) <= 3 {
						t.Errorf("%s: %v", id, err)
					}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d operations failed", n, workers*each)
	}
}

// MemoryStore forgets expired ids a few at a time, oldest first, on each
// Claim: it swept the whole map under its lock every sweepEvery claims, so
// with a million ids retained the sweeping Claim, and every Claim,
// Complete and Release waiting for the lock, stalled for the whole walk.
// Here one Claim after 2047 ids expired removes at most sweepBatch of them,
// and the following Claims remove the rest.
func TestMemoryStoreSweeps(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := &MemoryStore{Now: clock.Now}
	const n = 4*1024 - 2 // with Webhook:live, the next Claim is the 4096th
	for i := range n {
		id := fmt.Sprintf("Webhook:%d", i)
		tok, err := s.Claim(ctx, id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			s.Complete(ctx, id, tok, time.Hour)
		} else {
			s.Release(ctx, id, tok)
		}
	}
	s.Claim(ctx, "Webhook:live", 3*time.Hour)
	clock.Advance(2 * time.Hour)
	held := s.Len()
	s.Claim(ctx, "Webhook:first", 3*time.Hour)
	if swept := held + 1 - s.Len(); swept > sweepBatch {
		t.Fatalf("one Claim swept %d expired ids, want at most %d", swept, sweepBatch)
	}
	for i := 0; s.Len() > 2; i++ {
		if i > n {
			t.Fatalf("after %d claims still %d ids", i, s.Len())
		}
		if _, err := s.Claim(ctx, "Webhook:live", time.Minute); !errors.Is(err, ErrInProgress) {
			t.Fatalf("live claim: %v", err)
		}
	}
	// What is left are the live claims, and the queue is as short.
	if _, err := s.Claim(ctx, "Webhook:first", time.Minute); !errors.Is(err, ErrInProgress) {
		t.Fatalf("live claim swept: %v", err)
	}
	if q := s.queue.n; q > 2 {
		t.Fatalf("expiry queue holds %d entries for 2 ids", q)
	}
}

// CreateTable gives the expiry index a valid name of its own for every
// table name NewSQLStore accepts. It was the table's name plus
// "_expires_at": for a table of 63 characters, PostgreSQL's identifier
// limit, PostgreSQL truncated that to the table's own name, and CREATE
// INDEX IF NOT EXISTS skipped it with a notice (the name was taken), so
// Purge scanned the whole table.
func TestSQLStoreIndexNameLongTable(t *testing.T) {
	long := "wr_" + strings.Repeat("x", 60) // 63 characters
	near := "wr_" + strings.Repeat("y", 52) // 55: the suffix made a name of 66
	type db struct {
		name, driver, dsn, query string
	}
	dbs := []db{{"sqlite", "sqlite", "file:" + filepath.Join(t.TempDir(), "i.db"),
		`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND name = $2 AND sql LIKE '%expires_at%'`}}
	if url := os.Getenv("VASPD_TEST_POSTGRES_URL"); url != "" {
		dbs = append(dbs, db{"postgres", "pgx", url,
			`SELECT COUNT(*) FROM pg_indexes WHERE tablename = $1 AND indexname = $2 AND indexdef LIKE '%(expires_at)%'`})
	} else {
		t.Log("VASPD_TEST_POSTGRES_URL unset: PostgreSQL not tested")
	}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			for _, table := range []string{long, near, DefaultTable + "_idx"} {
				if d.driver == "pgx" {
					t.Cleanup(func() {
						if db, err := sql.Open("pgx", d.dsn); err == nil {
							db.Exec("DROP TABLE IF EXISTS " + table)
							db.Close()
						}
					})
				}
				s := openSQLStore(t, d.driver, d.dsn, newFakeClock(), table)
				var n int
				if err := s.db.QueryRowContext(context.Background(), d.query, table, s.index).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("table %s (%d characters): %d indexes %s on expires_at, want 1", table, len(table), n, s.index)
				}
				// A name that fits keeps the name it always had.
				if table == DefaultTable+"_idx" && s.index != table+"_expires_at" {
					t.Errorf("table %s: index %s, want %s_expires_at", table, s.index, table)
				}
				if len(s.index) > 63 || s.index == table {
					t.Errorf("table %s: index name %s", table, s.index)
				}
			}
		})
	}
}
