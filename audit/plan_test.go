package audit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestListFiltersUseIndexes: each filter of GET /audit-events is served by
// an index of 0614_audit_events (created ids: 0633), never by reading the whole trail, which
// only grows.
func TestListFiltersUseIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		// 4 000 events of 400 tokens over 400 resources, 400 routes and 400
		// created ids, a second apart: each filter below matches about
		// ten. (A filter
		// that matches a large part of the trail, a busy token's, is as
		// well served by reading it newest first, as PostgreSQL then
		// chooses.)
		if _, err := db.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4000)
			INSERT INTO audit_events (id, created_at, token_id, token_name, method, route, path_params, resource_id,
				client_address, request_id, status, completed_at, created_id)
			SELECT 'AuditEvent:' || (100000 + n), CAST(n AS BIGINT) * 1000000, 'Token:t' || (n % 400), 'ops', 'PATCH', 'PATCH /r' || (n % 400),
				'{}', 'User:u' || (n % 400), '127.0.0.1', 'req' || n, 200, CAST(n AS BIGINT) * 1000000,
				'Movement:m' || (n % 400) FROM g`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `ANALYZE audit_events`); err != nil {
			t.Fatal(err)
		}
		at := func(s int) time.Time { return time.Unix(int64(s), 0) }
		for _, c := range []struct {
			name string
			f    audit.Filter
			want string // the index the plan must use
		}{
			{"tokenId", audit.Filter{TokenID: "Token:t7"}, "audit_events_token"},
			{"resourceId", audit.Filter{ResourceID: "User:u7"}, "audit_events_resource"},
			{"route", audit.Filter{Route: "PATCH /r7", After: "AuditEvent:103000"}, "audit_events_route"},
			{"createdId", audit.Filter{CreatedID: "Movement:m7"}, "audit_events_created_id"},
			{"dates", audit.Filter{From: at(2000), To: at(2010)}, "audit_events_created"},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.f.Limit = 20
				q, args := audit.ListQuery(c.f)
				plan := storetest.Explain(t, db, q, args...)
				if !strings.Contains(plan, c.want) {
					t.Errorf("the plan does not use %s:\n%s", c.want, plan)
				}
				if strings.Contains(plan, "Seq Scan on audit_events") || strings.Contains(plan, "SCAN audit_events\n") {
					t.Errorf("the plan reads the whole table:\n%s", plan)
				}
			})
		}
	})
}
