package vasp_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// Lookups older than the retention that no quote was made from are
// deleted, in batches; a quote's lookup stays with it (its refreshes need
// it), and a quote asked of a deleted lookup is 404, as of one never made.
func TestPurgeLookups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		unused, quoted := h.lookup(t), h.lookup(t)
		if _, err := h.quote(t, quoted, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
		// A backlog of old lookups, more than one batch, and a recent one.
		old := store.Micros(time.Now().Add(-30 * 24 * time.Hour))
		for i := range 2500 {
			if _, err := db.ExecContext(t.Context(), `INSERT INTO uma_lookups (id, user_id, receiver, response, created_at)
				VALUES ($1, $2, '$bob@x.example', '{}', $3)`, fmt.Sprintf("Lookup:old-%04d", i), h.w.alice.UserID, old); err != nil {
				t.Fatal(err)
			}
		}
		// The purging process's clock is 8 days on: the two looked up now
		// are past the week's retention, as are the backlog's.
		h.w.clock.Set(time.Now().Add(8 * 24 * time.Hour))
		p := h.w.service(t, nil)
		recent := vaspd.NewID(vaspd.IDLookup)
		if _, err := db.ExecContext(t.Context(), `INSERT INTO uma_lookups (id, user_id, receiver, response, created_at)
			VALUES ($1, $2, '$bob@x.example', '{}', $3)`, recent, h.w.alice.UserID, store.Micros(h.w.clock.Now().Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		n, err := p.PurgeLookups(t.Context())
		if err != nil || n != 2501 {
			t.Fatalf("purged %d lookups (%v), want 2501: the backlog and the unused one", n, err)
		}
		if n, err := p.PurgeLookups(t.Context()); err != nil || n != 0 {
			t.Fatalf("second purge: %d, %v", n, err)
		}
		var left []string
		rows, err := db.QueryContext(t.Context(), `SELECT id FROM uma_lookups ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			left = append(left, id)
		}
		rows.Close()
		if want := []string{quoted.ID, recent}; fmt.Sprint(left) != fmt.Sprint(want) && fmt.Sprint(left) != fmt.Sprint([]string{recent, quoted.ID}) {
			t.Fatalf("lookups left %v, want the quoted one and the recent one %v", left, want)
		}
		_, err = h.quote(t, unused, vasp.LockedSending, 1000)
		wantStatus(t, err, http.StatusNotFound, "LOOKUP_REQUEST_NOT_FOUND")
		if _, err := h.quote(t, quoted, vasp.LockedSending, 1000); err != nil {
			t.Fatalf("a quote from the kept lookup: %v", err)
		}
	})
}
