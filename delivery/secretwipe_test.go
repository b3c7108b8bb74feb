package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// endpointSecrets reads an endpoint's secret columns straight from its row,
// deleted or not.
func endpointSecrets(t *testing.T, q store.Querier, id string) (secret, prev []byte, prevUntil int64) {
	t.Helper()
	err := q.QueryRowContext(context.Background(), `SELECT secret, prev_secret, prev_secret_until FROM webhook_endpoints WHERE id = $1`, id).
		Scan(&secret, &prev, &prevUntil)
	if err != nil {
		t.Fatal(err)
	}
	return secret, prev, prevUntil
}

// checkWiped fails unless the row of the deleted endpoint id holds none of
// its secrets: an empty current secret (the column is NOT NULL; an empty
// one cannot sign: not a "whsec_" secret) and no previous one.
func checkWiped(t *testing.T, q store.Querier, id string, had ...string) {
	t.Helper()
	secret, prev, until := endpointSecrets(t, q, id)
	for _, h := range had {
		if string(secret) == h || string(prev) == h {
			t.Errorf("deleted endpoint %s still holds a secret it had", id)
		}
	}
	if len(secret) != 0 || prev != nil || until != 0 {
		t.Errorf("deleted endpoint %s: secret %d bytes, prev_secret %d bytes (nil: %v), prev_secret_until %d; want empty, NULL, 0",
			id, len(secret), len(prev), prev == nil, until)
	}
}

// A deleted endpoint's row stays (its deliveries refer to it), but its
// signing secrets — the current one and, in a rotation's grace period, the
// previous one — are wiped in the deletion's transaction: nothing can be
// signed for it any more (its deliveries are dead, not attempted, and
// cannot be redelivered), so nothing should keep them. The same holds for
// the primary endpoint deleted through PATCH /config.
func TestDeleteEndpointWipesItsSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, first := mustEndpoint(t, s, rc.URL)
		delivered := enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts", n)
		}
		second, _, err := s.RotateSecret(ctx, ep.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if cur, prev, _ := endpointSecrets(t, db, ep.ID); string(cur) != second || string(prev) != first {
			t.Fatal("after the rotation the row does not hold both secrets")
		}
		waiting := enqueue(t, s, Event{Type: TypeTest})

		primary, pfirst, _, err := s.ConfigurePrimary(ctx, "https://example.com/primary")
		if err != nil || pfirst == "" {
			t.Fatalf("primary: %v", err)
		}
		psecond, _, err := s.RotateSecret(ctx, primary.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}

		if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.ConfigurePrimary(ctx, ""); err != nil {
			t.Fatal(err)
		}
		checkWiped(t, db, ep.ID, first, second)
		checkWiped(t, db, primary.ID, pfirst, psecond)

		// Nothing reads them again: no attempt, no redelivery.
		if n := step(t, s); n != 0 {
			t.Fatalf("%d attempts after the deletion", n)
		}
		for _, id := range []string{delivered, waiting} {
			d := onlyDelivery(t, s, id)
			if _, err := s.Redeliver(ctx, d.ID); vaspd.AsError(err).Code != vaspd.CodeWebhookEndpointNotFound {
				t.Fatalf("redeliver %s (%s) of a deleted endpoint: %v, want %s", d.ID, d.Status, err, vaspd.CodeWebhookEndpointNotFound)
			}
		}
		if n := len(rc.requests()); n != 1 {
			t.Fatalf("the receiver got %d requests, want 1", n)
		}
	})
}

// TestUpgradeWipesDeletedEndpointSecrets: migration 0570 wipes the secrets
// an endpoint deleted before it kept, and leaves a live endpoint's alone.
func TestUpgradeWipesDeletedEndpointSecrets(t *testing.T) {
	us := store.Micros(t0)
	const (
		cur  = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
		prev = "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4"
	)
	storetest.EachUpgrade(t, 570, func(t *testing.T, old *sql.DB) {
		q := fmt.Sprintf(`INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, is_primary,
			timeout_ms, sign_ed25519, secret, prev_secret, prev_secret_until, failure_streak, backoff_until,
			created_at, updated_at, deleted_at) VALUES
			('WebhookEndpoint:gone', 'https://example.com/a', '', '', FALSE, '', FALSE, 0, FALSE, '%[1]s', '%[2]s', %[3]d, 0, 0, %[3]d, %[3]d, %[3]d),
			('WebhookEndpoint:live', 'https://example.com/b', '', '', TRUE, '', FALSE, 0, FALSE, '%[1]s', '%[2]s', %[4]d, 0, 0, %[3]d, %[3]d, 0)`,
			cur, prev, us, us+3_600_000_000)
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}, func(t *testing.T, db *store.DB) {
		checkWiped(t, db, "WebhookEndpoint:gone", cur, prev)
		if s, p, until := endpointSecrets(t, db, "WebhookEndpoint:live"); string(s) != cur || string(p) != prev || until != us+3_600_000_000 {
			t.Fatalf("live endpoint's secrets changed by the upgrade (until %d)", until)
		}
	})
}
