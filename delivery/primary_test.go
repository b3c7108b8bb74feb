package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// livePrimaries returns the ids of the live primary endpoints, oldest first.
func livePrimaries(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT id FROM webhook_endpoints WHERE is_primary AND deleted_at = 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// Two PATCH /config calls that both find no primary endpoint create one
// between them: the second meets the first's on the unique index and uses
// it (its URL wins, as when it comes second), with no second secret.
func TestConcurrentPrimaryCreatesOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		first, second := newReceiver(t), newReceiver(t)
		var theirs Endpoint
		s.primaryRace = func(ctx context.Context, tx *store.Tx) {
			s.primaryRace = nil
			var err error
			if db.Driver().Name() == "postgres" {
				// Another connection commits its primary meanwhile.
				theirs, _, _, err = s.ConfigurePrimary(ctx, first.URL)
			} else {
				// SQLite writers are exclusive (IMMEDIATE): only a row
				// written before this point can be in the way.
				theirs, _, err = s.createEndpoint(ctx, tx, EndpointInput{URL: &first.URL}, true)
			}
			if err != nil {
				t.Error(err)
			}
		}
		e, secret, changed, err := s.ConfigurePrimary(ctx, second.URL)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != theirs.ID || e.URL != second.URL || secret != "" || !changed {
			t.Fatalf("got %s %s secret=%q changed=%v; want the concurrent primary %s, moved to %s, no secret",
				e.ID, e.URL, secret, changed, theirs.ID, second.URL)
		}
		if ids := livePrimaries(t, db); len(ids) != 1 || ids[0] != theirs.ID {
			t.Fatalf("live primaries %v, want [%s]", ids, theirs.ID)
		}
	})
}

// A database where the race above left several primaries keeps the oldest
// as primary after migration 0440; the others stay, as ordinary endpoints.
func TestUpgradeOnePrimary(t *testing.T) {
	us := store.Micros(t0)
	storetest.EachUpgrade(t, 440, func(t *testing.T, old *sql.DB) {
		for _, r := range []struct {
			id              string
			primary         bool
			created, delete int64
		}{
			{"WebhookEndpoint:a-newer", true, us + 1, 0},
			{"WebhookEndpoint:b-oldest", true, us, 0},
			{"WebhookEndpoint:c-same-time", true, us, 0},
			{"WebhookEndpoint:0-deleted", false, us - 1, us},
			{"WebhookEndpoint:0-other", false, us - 1, 0},
		} {
			q := fmt.Sprintf(`INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, is_primary,
				timeout_ms, sign_ed25519, secret, prev_secret, prev_secret_until, failure_streak, backoff_until,
				created_at, updated_at, deleted_at)
				VALUES ('%s', 'https://example.com/hook', '', '', TRUE, '', %v, 0, FALSE, 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3', NULL, 0, 0, 0, %d, %d, %d)`,
				r.id, r.primary, r.created, r.created, r.delete)
			if _, err := old.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		if ids := livePrimaries(t, db); len(ids) != 1 || ids[0] != "WebhookEndpoint:b-oldest" {
			t.Fatalf("live primaries after the upgrade: %v", ids)
		}
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		list, err := s.ListEndpoints(context.Background(), "", 10)
		if err != nil || len(list) != 4 {
			t.Fatalf("endpoints after the upgrade: %d, %v", len(list), err)
		}
		for _, e := range list {
			if !e.Enabled {
				t.Fatalf("%s disabled by the upgrade", e.ID)
			}
		}
		_, err = db.ExecContext(context.Background(), `UPDATE webhook_endpoints SET is_primary = TRUE WHERE id = 'WebhookEndpoint:0-other'`)
		if err == nil || !db.Driver().IsUniqueViolation(err) {
			t.Fatalf("a second primary: %v, want a unique violation", err)
		}
	})
}
