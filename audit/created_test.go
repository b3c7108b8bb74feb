package audit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// trail is an audit log at a fixed time on db, with what the tests of
// created and changed resources share.
type trail struct {
	t   *testing.T
	db  *store.DB
	ctx context.Context
	l   *audit.Log
}

func newTrail(t *testing.T, db *store.DB) *trail {
	return &trail{t: t, db: db, ctx: t.Context(), l: audit.New(db, &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})}
}

// begin records e, by a new token named "ops" from one client address
// unless e says otherwise, and returns its id.
func (tr *trail) begin(e audit.Event) string {
	tr.t.Helper()
	if e.TokenID == "" {
		e.TokenID, e.TokenName = vaspd.NewID(vaspd.IDToken), "ops"
	}
	e.ClientAddress, e.RequestID = "198.51.100.7", "req"
	if err := tr.l.Begin(tr.ctx, &e); err != nil {
		tr.t.Fatal(err)
	}
	return e.ID
}

// deposit is the event of a deposit to user: its path's resource.
func deposit(user string) audit.Event {
	return audit.Event{Method: "POST", Route: "POST /users/{userId}/deposits", PathParams: map[string]string{"userId": user}, ResourceID: user}
}

func (tr *trail) finish(id string, res audit.Result) {
	tr.t.Helper()
	if err := tr.l.Finish(tr.ctx, id, res); err != nil {
		tr.t.Fatal(err)
	}
}

// refused fails the test if the database allows q.
func (tr *trail) refused(q string, args ...any) {
	tr.t.Helper()
	if _, err := tr.db.ExecContext(tr.ctx, q, args...); err == nil {
		tr.t.Errorf("%s %v: allowed", q, args)
	}
}

// A request that creates something has no resource when its event is
// written (before the handler runs): the id of what it created is added
// with its outcome, once, to an event without a resource, and a filter
// on it finds the event. The triggers still refuse everything else: a
// resource named without an outcome, a resource changed or added after
// the outcome, a path's resource replaced, any other column, a delete.
func TestFinishNamesCreatedResource(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(t, db)
		ctx, l, refused := tr.ctx, tr.l, tr.refused
		begin := func(route, resource string) string {
			t.Helper()
			e := audit.Event{Method: "POST", Route: route, ResourceID: resource}
			if resource != "" {
				e.PathParams = map[string]string{"userId": resource}
			}
			return tr.begin(e)
		}

		user := vaspd.NewID(vaspd.IDUser)
		created := begin("POST /users", "")
		tr.finish(created, audit.Result{Status: 201, ResourceID: user})
		got, err := l.Get(ctx, created)
		if err != nil || got.ResourceID != user || got.Outcome == nil || got.Outcome.Status != 201 {
			t.Fatalf("the created user's event: %+v %v", got, err)
		}
		evs, err := l.List(ctx, audit.Filter{ResourceID: user, Limit: 10})
		if err != nil || len(evs) != 1 || evs[0].ID != created {
			t.Fatalf("events of the created user: %+v %v", evs, err)
		}
		// Done: its resource is history.
		refused(`UPDATE audit_events SET resource_id = 'User:forged' WHERE id = $1`, created)
		refused(`UPDATE audit_events SET resource_id = NULL WHERE id = $1`, created)

		// A path's resource stays the path's: Finish keeps it.
		path := vaspd.NewID(vaspd.IDUser)
		dep := begin("POST /users/{userId}/deposits", path)
		tr.finish(dep, audit.Result{Status: 201, ResourceID: "Transaction:1"})
		if got, _ := l.Get(ctx, dep); got.ResourceID != path {
			t.Fatalf("the path's resource became %q", got.ResourceID)
		}

		// Before the outcome: a resource comes only with it, and a path's
		// is never replaced.
		open := begin("POST /tokens", "")
		refused(`UPDATE audit_events SET resource_id = 'Token:forged' WHERE id = $1`, open)
		openPath := begin("POST /users/{userId}/deposits", path)
		refused(`UPDATE audit_events SET resource_id = 'User:forged', status = 201 WHERE id = $1`, openPath)
		refused(`UPDATE audit_events SET resource_id = NULL, status = 201 WHERE id = $1`, openPath)
		refused(`UPDATE audit_events SET route = 'POST /forged', status = 201 WHERE id = $1`, open)
		refused(`UPDATE audit_events SET token_id = 'Token:forged', resource_id = 'Token:1', status = 201 WHERE id = $1`, open)
		refused(`DELETE FROM audit_events WHERE id = $1`, open)
		// With its outcome, once: the one change allowed.
		if _, err := db.ExecContext(ctx, `UPDATE audit_events SET resource_id = 'Token:1', status = 201 WHERE id = $1`, open); err != nil {
			t.Fatalf("a created resource with its outcome: %v", err)
		}
		refused(`UPDATE audit_events SET resource_id = 'Token:2' WHERE id = $1`, open)
		// An event finished without a resource gets none later.
		none := begin("POST /tokens", "")
		tr.finish(none, audit.Result{Status: 400, ErrorCode: "INVALID_INPUT"})
		refused(`UPDATE audit_events SET resource_id = 'Token:late' WHERE id = $1`, none)
		if got, _ := l.Get(ctx, none); got.ResourceID != "" {
			t.Fatalf("a refused create names %q", got.ResourceID)
		}
	})
}

// A replay (answered from an earlier request's result) is marked with its
// outcome; an event that ran, or was written done (RecordTx), is not; the
// mark is written with the outcome and never changed.
func TestFinishMarksReplay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(t, db)
		ctx, l, refused := tr.ctx, tr.l, tr.refused
		begin := func() string {
			t.Helper()
			return tr.begin(audit.Event{Method: "POST", Route: "POST /users", IdempotencyKey: "k"})
		}
		ran, replay, open := begin(), begin(), begin()
		tr.finish(ran, audit.Result{Status: 201})
		tr.finish(replay, audit.Result{Status: 201, Replayed: true})
		for id, want := range map[string]bool{ran: false, replay: true} {
			if got, err := l.Get(ctx, id); err != nil || got.Outcome == nil || got.Outcome.Replayed != want {
				t.Errorf("%s: %+v %v, want replayed %v", id, got.Outcome, err, want)
			}
		}
		var done audit.Event
		if err := tr.db.InTx(ctx, func(tx *store.Tx) error {
			done = audit.CLIEvent("vaspd serve", map[string]string{"tokenId": "Token:1"})
			return l.RecordTx(ctx, tx, &done, 200)
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Get(ctx, done.ID); got.Outcome == nil || got.Outcome.Replayed {
			t.Errorf("RecordTx's event: %+v", got.Outcome)
		}
		refused(`UPDATE audit_events SET replayed = TRUE WHERE id = $1`, ran)
		refused(`UPDATE audit_events SET replayed = FALSE WHERE id = $1`, replay)
		refused(`UPDATE audit_events SET replayed = TRUE WHERE id = $1`, open) // not without its outcome
		if got, _ := l.Get(ctx, open); got.Outcome != nil {
			t.Errorf("an open event: %+v", got.Outcome)
		}
	})
}

// The id of what a request created is its outcome's CreatedID, on a route
// naming a resource of its own too (a deposit's user, whose movement is
// named nowhere else), where the resource stays the path's. It is written
// with the outcome, once: the triggers refuse it before (alone) and after.
func TestFinishRecordsCreatedID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(t, db)
		ctx, l, refused := tr.ctx, tr.l, tr.refused
		user := vaspd.NewID(vaspd.IDUser)
		begin := func() string { t.Helper(); return tr.begin(deposit(user)) }
		mid := "deposit/" + user + "/ref:00112233445566778899aabbccddeeff"
		made, replay, none, open := begin(), begin(), begin(), begin()
		tr.finish(made, audit.Result{Status: 201, ResourceID: mid})
		tr.finish(replay, audit.Result{Status: 200, ResourceID: mid, Replayed: true})
		tr.finish(none, audit.Result{Status: 400, ErrorCode: "INVALID_AMOUNT"})
		for id, want := range map[string]audit.Outcome{made: {Status: 201, CreatedID: mid},
			replay: {Status: 200, CreatedID: mid, Replayed: true}, none: {Status: 400, ErrorCode: "INVALID_AMOUNT"}} {
			got, err := l.Get(ctx, id)
			if err != nil || got.ResourceID != user || got.Outcome == nil {
				t.Fatalf("%s: %+v %v", id, got, err)
			}
			if o := *got.Outcome; o.Status != want.Status || o.ErrorCode != want.ErrorCode || o.Replayed != want.Replayed || o.CreatedID != want.CreatedID {
				t.Errorf("%s: outcome %+v, want %+v", id, o, want)
			}
		}
		refused(`UPDATE audit_events SET created_id = 'deposit/forged' WHERE id = $1`, made)
		refused(`UPDATE audit_events SET created_id = NULL WHERE id = $1`, made)
		refused(`UPDATE audit_events SET created_id = 'deposit/late' WHERE id = $1`, none)
		refused(`UPDATE audit_events SET created_id = 'deposit/early' WHERE id = $1`, open) // not without its outcome
		if _, err := tr.db.ExecContext(ctx, `UPDATE audit_events SET created_id = 'deposit/1', status = 201 WHERE id = $1`, open); err != nil {
			t.Fatalf("a created id with its outcome: %v", err)
		}
		refused(`UPDATE audit_events SET created_id = 'deposit/2' WHERE id = $1`, open)
	})
}

// A resource a request changed on a route naming none (PATCH /config
// re-pointing the primary webhook endpoint) is its event's resource, not
// a created id; on a route naming one the path's stays, and a created id
// comes first.
func TestFinishNamesSubject(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(t, db)
		begin := func(route, resource string) string {
			t.Helper()
			return tr.begin(audit.Event{Method: "PATCH", Route: route, ResourceID: resource})
		}
		ep, other := vaspd.NewID(vaspd.IDEndpoint), vaspd.NewID(vaspd.IDEndpoint)
		moved, path, both := begin("PATCH /config", ""), begin("PATCH /webhooks/endpoints/{endpointId}", other), begin("PATCH /config", "")
		for id, res := range map[string]audit.Result{moved: {Status: 200, Subject: ep}, path: {Status: 200, Subject: ep},
			both: {Status: 200, ResourceID: other, Subject: ep}} {
			tr.finish(id, res)
		}
		for id, want := range map[string][2]string{moved: {ep, ""}, path: {other, ""}, both: {other, other}} {
			got, err := tr.l.Get(tr.ctx, id)
			if err != nil || got.Outcome == nil || got.ResourceID != want[0] || got.Outcome.CreatedID != want[1] {
				t.Errorf("%s: resource %q, outcome %+v (%v); want resource %q, createdId %q", id, got.ResourceID, got.Outcome, err, want[0], want[1])
			}
		}
	})
}

// List filters on the outcome's created id, and pages through the events
// it keeps, oldest or newest first: a deposit's movement is named only
// there (its resource is its user), and only ?createdId= finds the event
// that made it, or replayed it.
func TestListFiltersCreatedID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTrail(t, db)
		ctx, l := tr.ctx, tr.l
		user := vaspd.NewID(vaspd.IDUser)
		mid, other := "deposit/"+user+"/k1", "deposit/"+user+"/k2"
		var want []string
		for i, created := range []string{mid, other, mid, "", mid} {
			id := tr.begin(deposit(user))
			tr.finish(id, audit.Result{Status: 201, ResourceID: created, Replayed: i > 0 && created == mid})
			if created == mid {
				want = append(want, id)
			}
		}
		for _, asc := range []bool{true, false} {
			var got []string
			after := ""
			for {
				page, err := l.List(ctx, audit.Filter{CreatedID: mid, Ascending: asc, After: after, Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				more := len(page) > 2
				if more {
					page = page[:2]
				}
				for _, e := range page {
					if e.Outcome == nil || e.Outcome.CreatedID != mid {
						t.Errorf("listed %s: outcome %+v", e.ID, e.Outcome)
					}
					got = append(got, e.ID)
				}
				if !more {
					break
				}
				after = page[len(page)-1].ID
			}
			exp := slices.Clone(want)
			if !asc {
				slices.Reverse(exp)
			}
			if !slices.Equal(got, exp) {
				t.Errorf("createdId %s, ascending %v: %v, want %v", mid, asc, got, exp)
			}
		}
		if evs, err := l.List(ctx, audit.Filter{CreatedID: mid, ResourceID: vaspd.NewID(vaspd.IDUser), Limit: 10}); err != nil || len(evs) != 0 {
			t.Errorf("createdId with another user's resourceId: %d events, %v", len(evs), err)
		}
	})
}
