// Command sqlitedrivers measures the SQLite drivers vaspd could embed on the
// webhook engine's write pattern: many small durable transactions (insert an
// event row + a delivery row, then claim and complete deliveries), with the
// same pragmas vaspd uses (WAL, synchronous=NORMAL, IMMEDIATE transactions).
//
//	cd bench/sqlitedrivers && go run . -n 20000 && CGO_ENABLED=1 go run -tags mattn . -n 20000
//
// prints one JSON line per driver. mattn/go-sqlite3 and ncruces/go-sqlite3
// both register the name "sqlite3", so the cgo driver is built by tag. It lives in its own module so the drivers
// we did not choose never enter vaspd's go.mod.
package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite"
)

type result struct {
	Driver           string  `json:"driver"`
	Cgo              bool    `json:"cgo"`
	EnqueueTxPerSec  float64 `json:"enqueue_tx_per_s"`
	ClaimTxPerSec    float64 `json:"claim_complete_tx_per_s"`
	BatchRowsPerSec  float64 `json:"batch_insert_rows_per_s"`
	PointReadsPerSec float64 `json:"point_reads_per_s"`
}

func main() {
	n := flag.Int("n", 20000, "transactions per phase")
	flag.Parse()
	for _, d := range []struct {
		name, driver, dsn string
		cgo               bool
	}{
		{"modernc.org/sqlite", "sqlite", "file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate", false},
		{"github.com/ncruces/go-sqlite3", "sqlite3", "file:%s?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate", false},
		{"github.com/mattn/go-sqlite3", "sqlite3", "file:%s?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate", true},
	} {
		if d.cgo != mattn {
			continue // this build has the other "sqlite3" driver
		}
		r, err := measure(d.driver, d.dsn, *n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", d.name, err)
			os.Exit(1)
		}
		r.Driver, r.Cgo = d.name, d.cgo
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
}

func measure(driver, dsnf string, n int) (result, error) {
	dir, err := os.MkdirTemp("", "sqlitebench")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open(driver, fmt.Sprintf(dsnf, filepath.Join(dir, "b.db")))
	if err != nil {
		return result{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT NOT NULL, payload BLOB NOT NULL, created_at BIGINT NOT NULL)`,
		`CREATE TABLE deliveries (id TEXT PRIMARY KEY, event_id TEXT NOT NULL, state TEXT NOT NULL, next_at BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)`,
		`CREATE INDEX deliveries_due ON deliveries (state, next_at)`,
	} {
		if _, err := db.Exec(q); err != nil {
			return result{}, err
		}
	}
	payload := make([]byte, 600)
	var r result

	t0 := time.Now()
	for i := 0; i < n; i++ {
		tx, err := db.Begin()
		if err != nil {
			return r, err
		}
		id := fmt.Sprintf("e%09d", i)
		if _, err := tx.Exec(`INSERT INTO events VALUES (?1, 'TEST', ?2, ?3)`, id, payload, i); err != nil {
			return r, err
		}
		if _, err := tx.Exec(`INSERT INTO deliveries (id, event_id, state, next_at) VALUES (?1, ?2, 'pending', ?3)`, "d"+id, id, i); err != nil {
			return r, err
		}
		if err := tx.Commit(); err != nil {
			return r, err
		}
	}
	r.EnqueueTxPerSec = float64(n) / time.Since(t0).Seconds()

	t0 = time.Now()
	for i := 0; i < n; i++ {
		tx, err := db.Begin()
		if err != nil {
			return r, err
		}
		var id string
		if err := tx.QueryRow(`SELECT id FROM deliveries WHERE state = 'pending' ORDER BY next_at LIMIT 1`).Scan(&id); err != nil {
			return r, err
		}
		if _, err := tx.Exec(`UPDATE deliveries SET state = 'delivered', attempts = attempts + 1 WHERE id = ?1`, id); err != nil {
			return r, err
		}
		if err := tx.Commit(); err != nil {
			return r, err
		}
	}
	r.ClaimTxPerSec = float64(n) / time.Since(t0).Seconds()

	t0 = time.Now()
	rows := 0
	for b := 0; b < n/100; b++ {
		tx, err := db.Begin()
		if err != nil {
			return r, err
		}
		for i := 0; i < 100; i++ {
			id := fmt.Sprintf("b%06d-%03d", b, i)
			if _, err := tx.Exec(`INSERT INTO events VALUES (?1, 'TEST', ?2, ?3)`, id, payload, i); err != nil {
				return r, err
			}
			rows++
		}
		if err := tx.Commit(); err != nil {
			return r, err
		}
	}
	r.BatchRowsPerSec = float64(rows) / time.Since(t0).Seconds()

	t0 = time.Now()
	for i := 0; i < n; i++ {
		var typ string
		if err := db.QueryRow(`SELECT type FROM events WHERE id = ?1`, fmt.Sprintf("e%09d", i%n)).Scan(&typ); err != nil {
			return r, err
		}
	}
	r.PointReadsPerSec = float64(n) / time.Since(t0).Seconds()
	return r, nil
}
