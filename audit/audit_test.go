package audit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// An event is readable once Begin returns, without an outcome; Finish
// adds one, once; List filters and pages newest first or oldest first;
// the table refuses deletes and changes.
func TestLog(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		l := audit.New(db, c)
		tokA, tokB := vaspd.NewID(vaspd.IDToken), vaspd.NewID(vaspd.IDToken)
		var ids []string
		for i := range 5 {
			e := audit.Event{TokenID: tokA, TokenName: "ops", Method: "PATCH", Route: "PATCH /users/{userId}",
				PathParams: map[string]string{"userId": "User:1"}, ResourceID: "User:1", ClientAddress: "198.51.100.7",
				RequestID: "req", IdempotencyKey: "key\x00\xff"}
			if i%2 == 1 {
				e.TokenID, e.Route, e.ResourceID, e.PathParams = tokB, "PATCH /config", "", nil
			}
			if err := l.Begin(ctx, &e); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(e.ID, vaspd.IDAuditEvent+":") {
				t.Fatalf("id %s", e.ID)
			}
			ids = append(ids, e.ID)
			c.t = c.t.Add(time.Minute)
		}
		got, err := l.Get(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != nil || got.TokenName != "ops" || got.PathParams["userId"] != "User:1" ||
			got.IdempotencyKey != "key\uFFFD\uFFFD" || !got.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Fatalf("before its outcome: %+v", got)
		}
		if err := l.Finish(ctx, ids[0], audit.Result{Status: 404, ErrorCode: "USER_NOT_FOUND", IdempotencyKey: "a body's key"}); err != nil {
			t.Fatal(err)
		}
		if err := l.Finish(ctx, ids[0], audit.Result{Status: 200}); err == nil {
			t.Fatal("a second outcome was recorded")
		}
		if got, _ = l.Get(ctx, ids[0]); got.Outcome == nil || got.Outcome.Status != 404 || got.Outcome.ErrorCode != "USER_NOT_FOUND" ||
			got.IdempotencyKey != "key\uFFFD\uFFFD" {
			t.Fatalf("after its outcome (the header's key kept): %+v %q", got.Outcome, got.IdempotencyKey)
		}
		if _, err := l.Get(ctx, vaspd.NewID(vaspd.IDAuditEvent)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown event: %v", err)
		}

		list := func(f audit.Filter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 10
			}
			evs, err := l.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range evs {
				out = append(out, e.ID)
			}
			return out
		}
		eq := func(name string, got []string, want ...string) {
			t.Helper()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: got %v, want %v", name, got, want)
			}
		}
		eq("all", list(audit.Filter{}), ids[4], ids[3], ids[2], ids[1], ids[0])
		eq("asc", list(audit.Filter{Ascending: true}), ids...)
		eq("token", list(audit.Filter{TokenID: tokB}), ids[3], ids[1])
		eq("resource", list(audit.Filter{ResourceID: "User:1"}), ids[4], ids[2], ids[0])
		eq("route", list(audit.Filter{Route: "PATCH /config"}), ids[3], ids[1])
		start := time.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC)
		eq("dates, inclusive", list(audit.Filter{From: start, To: start.Add(2 * time.Minute)}), ids[3], ids[2], ids[1])
		eq("page", list(audit.Filter{Limit: 2}), ids[4], ids[3], ids[2])
		eq("after", list(audit.Filter{After: ids[2], Limit: 2}), ids[1], ids[0])
		eq("after, asc", list(audit.Filter{After: ids[2], Ascending: true}), ids[3], ids[4])

		// A key the body gave is recorded with the outcome, on an event
		// that had none (written before the body was read).
		bodyKeyed := audit.Event{TokenID: tokA, TokenName: "ops", Method: "POST", Route: "POST /users/{userId}/deposits",
			PathParams: map[string]string{"userId": "User:2"}, ResourceID: "User:2", ClientAddress: "198.51.100.7", RequestID: "req2"}
		if err := l.Begin(ctx, &bodyKeyed); err != nil {
			t.Fatal(err)
		}
		if err := l.Finish(ctx, bodyKeyed.ID, audit.Result{Status: 200, IdempotencyKey: "deposit-7"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Get(ctx, bodyKeyed.ID); got.IdempotencyKey != "deposit-7" {
			t.Fatalf("the body's key: %q", got.IdempotencyKey)
		}

		// History: no delete, no change but an outcome's, once.
		for _, q := range []string{`DELETE FROM audit_events WHERE id = $1`,
			`UPDATE audit_events SET token_id = 'Token:forged' WHERE id = $1`,
			`UPDATE audit_events SET idempotency_key = 'forged' WHERE id = $1`,
			`UPDATE audit_events SET status = 200 WHERE id = $1`} {
			for _, id := range []string{ids[0], ids[1]} {
				if q == `UPDATE audit_events SET status = 200 WHERE id = $1` && id == ids[1] {
					continue // adding an outcome is allowed
				}
				if _, err := db.ExecContext(ctx, q, id); err == nil {
					t.Errorf("%s on %s: allowed", q, id)
				}
			}
		}
	})
}
