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

// TestUpgradeQueueIndexes: a database written before migration 0250
// (pending-only queue indexes, the attempt log keyed by delivery and
// attempt number) keeps its attempt log, and a delivery its process died
// attempting is retried once its old lease has ended.
func TestUpgradeQueueIndexes(t *testing.T) {
	us := store.Micros(t0)
	var rc *receiver // each database's own
	storetest.EachUpgrade(t, 250, func(t *testing.T, old *sql.DB) {
		rc = newReceiver(t)
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO webhook_endpoints (id, url, description, event_types, enabled, disabled_reason, is_primary,
				timeout_ms, sign_ed25519, secret, prev_secret, prev_secret_until, failure_streak, backoff_until,
				created_at, updated_at, deleted_at)
				VALUES ('WebhookEndpoint:old', '%s', '', '', TRUE, '', FALSE, 0, FALSE, 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3', NULL, 0, 0, 0, %d, %d, 0)`,
				rc.URL, us, us),
			fmt.Sprintf(`INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES
				('Webhook:one', 'TEST', '{"type":"TEST","webhookId":"Webhook:one"}', %[1]d, %[1]d),
				('Webhook:two', 'TEST', '{"type":"TEST","webhookId":"Webhook:two"}', %[1]d, %[1]d)`, us),
			// One delivered; one whose process died mid-attempt: leased
			// (next_attempt_at was the lease end), its lease over by t0.
			fmt.Sprintf(`INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at,
				lease_token, first_attempt_at, last_status, last_error, created_at, updated_at, finished_at) VALUES
				('WebhookDelivery:one', 'Webhook:one', 'WebhookEndpoint:old', 'delivered', 1, %[1]d, '', %[1]d, 200, '', %[1]d, %[1]d, %[1]d),
				('WebhookDelivery:two', 'Webhook:two', 'WebhookEndpoint:old', 'pending', 1, %[2]d, 'dead0000', %[1]d, 500, 'HTTP 500', %[1]d, %[1]d, 0)`,
				us-20_000_000, us-1),
			fmt.Sprintf(`INSERT INTO webhook_attempts (id, delivery_id, attempt, started_at, latency_us, status_code, response_body, error) VALUES
				('WebhookDelivery:one/1', 'WebhookDelivery:one', 1, %[1]d, 900, 200, 'ok', ''),
				('WebhookDelivery:two/1', 'WebhookDelivery:two', 1, %[1]d, 900, 500, 'no', '')`, us-20_000_000),
		} {
			if _, err := old.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		d, err := s.GetDelivery(context.Background(), "WebhookDelivery:one")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode != 200 || d.AttemptLog[0].ResponseBody != "ok" {
			t.Fatalf("attempt log after the upgrade: %+v", d.AttemptLog)
		}
		if n := step(t, s); n != 1 {
			t.Fatalf("%d attempts after the upgrade, want the interrupted delivery's one", n)
		}
		d, err = s.GetDelivery(context.Background(), "WebhookDelivery:two")
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != StatusDelivered || len(d.AttemptLog) != 2 || d.AttemptLog[1].Attempt != 2 {
			t.Fatalf("interrupted delivery after the upgrade: %+v", d)
		}
		if got := rc.requests(); len(got) != 1 || got[0].header.Get("webhook-id") != "Webhook:two" {
			t.Fatalf("requests: %+v", got)
		}
		// Pruning finds the old attempts by their new key.
		clock.Advance(400 * 24 * time.Hour)
		if n, err := s.Prune(context.Background()); err != nil || n < 5 {
			t.Fatalf("prune: %d rows, %v", n, err)
		}
	})
}
