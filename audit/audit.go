// Package audit keeps the platform API's audit trail: which API token did
// what, when, from where, and how it ended. Package api writes an [Event]
// for every request to a route registered as audited (the routes that
// change the platform's configuration, credentials or users, and the
// requests that move money in or out or decide on an incoming payment).
//
// An event is inserted, in a transaction of its own, before the request
// is served ([Log.Begin]), and its outcome (the HTTP status answered and
// the error code, if any) is added once the handler has returned
// ([Log.Finish]). So no audited change can commit without its record: a
// request whose event cannot be written is refused (api answers 503) and
// does nothing. A process that dies in between, a handler that panics, or
// an outcome that cannot be written leaves an event without an outcome,
// which reads as "outcome unknown": the request was made and may or may
// not have taken effect; the resource it names says which.
//
// An event holds no request or answer body, ever: bodies carry secrets
// (a token's, a webhook endpoint's, a database URL in a configuration)
// and personal data. What it holds is the route and its path parameters,
// the token's id and name, the client address, the request id and the
// Idempotency-Key, and, for a request that created something, the id of
// what it created (added with the outcome, as the outcome's CreatedID and
// as the event's resource if its route names none: it did not exist
// before); on a route naming none, the resource a request changed or
// deleted is its event's resource too (Result.Subject). An
// outcome says whether the request was a replay: answered from what an
// earlier one with its Idempotency-Key did, changing nothing. The
// table is append-only (triggers refuse a DELETE and any UPDATE but the
// one adding an outcome), and events are kept forever: nothing purges
// them.
package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// CLITokenID is the token id of the events the vaspd CLI records for its
// own changes to the database (`vaspd token create`, …): they are made
// with no platform-API credential.
const CLITokenID = "cli"

// Event is one audited platform request, as GET /audit-events answers it.
type Event struct {
	ID        string    `json:"id"` // AuditEvent:<uuidv7>
	CreatedAt time.Time `json:"createdAt"`
	TokenID   string    `json:"tokenId"`   // the clientId that authenticated the request
	TokenName string    `json:"tokenName"` // the token's name at the time
	Method    string    `json:"method"`
	// Route is the route pattern: "PATCH /webhooks/endpoints/{endpointId}".
	Route string `json:"route"`
	// PathParams are the values of the route's path parameters, by name.
	PathParams map[string]string `json:"pathParams"`
	// ResourceID is the path parameter's value, or for a route without
	// one the id of what the request created, recorded with its outcome
	// ("" for neither); the list filters on it.
	ResourceID     string `json:"resourceId,omitempty"`
	ClientAddress  string `json:"clientAddress"`
	RequestID      string `json:"requestId"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Outcome is nil while the request is served, and for ever if its
	// outcome was never written: unknown.
	Outcome *Outcome `json:"outcome"`
}

// Outcome is how an audited request ended: the status it was answered
// with and, for an error, its code.
type Outcome struct {
	Status    int    `json:"status"`
	ErrorCode string `json:"errorCode,omitempty"`
	// Replayed says the request repeated an earlier one's Idempotency-Key
	// and was answered from what that one did (Idempotent-Replayed:
	// true): it changed nothing, and the first run's event is the
	// change's.
	Replayed bool `json:"replayed"`
	// CreatedID is the id of what the request created or, replayed, was
	// answered with ("" for none): also the event's ResourceID on a route
	// without one, and on one with (a deposit or withdrawal, whose
	// resource is its user) the only place it is named (the ledger
	// movement made).
	CreatedID   string    `json:"createdId,omitempty"`
	CompletedAt time.Time `json:"completedAt"`
}

// Log writes and reads audit events. Create it with New.
type Log struct {
	db    *store.DB
	clock vaspd.Clock
}

// New returns the audit log kept in db; clock nil is the system clock.
func New(db *store.DB, clock vaspd.Clock) *Log {
	if clock == nil {
		clock = vaspd.SystemClock{}
	}
	return &Log{db: db, clock: clock}
}

// Longest stored values: what comes from the request (path values, the
// Idempotency-Key) is cut to these and made storable (vaspd.Storable).
const (
	maxValue = 256
	maxRoute = 256
)

// Begin records e, giving it its id and time, and commits it before it
// returns: call it before serving the request e describes, and serve the
// request only if it returns nil.
func (l *Log) Begin(ctx context.Context, e *Event) error {
	return l.db.InTx(ctx, func(tx *store.Tx) error { return l.insert(ctx, tx, e, nil) })
}

// RecordTx records e, done with status, in tx: for a change made in that
// transaction (the admin token a first start mints), which commits with
// its event or not at all.
func (l *Log) RecordTx(ctx context.Context, tx *store.Tx, e *Event, status int) error {
	return l.insert(ctx, tx, e, &Outcome{Status: status})
}

// insert writes e, made storable, with outcome o if not nil (its time
// that of the event).
func (l *Log) insert(ctx context.Context, tx *store.Tx, e *Event, o *Outcome) error {
	e.ID = vaspd.NewID(vaspd.IDAuditEvent)
	e.CreatedAt = l.clock.Now().UTC().Truncate(time.Microsecond)
	e.Route = clean(e.Route, maxRoute)
	e.Method = clean(e.Method, 32)
	e.ResourceID = clean(e.ResourceID, maxValue)
	e.IdempotencyKey = clean(e.IdempotencyKey, maxValue)
	e.ClientAddress = clean(e.ClientAddress, 128)
	e.RequestID = clean(e.RequestID, 128)
	params := make(map[string]string, len(e.PathParams))
	for k, v := range e.PathParams {
		params[clean(k, 64)] = clean(v, maxValue)
	}
	e.PathParams = params
	pj, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("audit: encode path parameters: %w", err)
	}
	e.Outcome = nil
	var status sql.NullInt64
	var completed sql.NullInt64
	var replayed sql.NullBool
	if o != nil {
		e.Outcome = &Outcome{Status: o.Status, CompletedAt: e.CreatedAt}
		status = sql.NullInt64{Int64: int64(o.Status), Valid: true}
		completed = sql.NullInt64{Int64: store.Micros(e.CreatedAt), Valid: true}
		replayed = sql.NullBool{Valid: true}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_events (id, created_at, token_id, token_name, method, route,
		path_params, resource_id, client_address, request_id, idempotency_key, status, completed_at, replayed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		e.ID, store.Micros(e.CreatedAt), e.TokenID, e.TokenName, e.Method, e.Route, string(pj),
		nullText(e.ResourceID), e.ClientAddress, e.RequestID, nullText(e.IdempotencyKey), status, completed, replayed)
	if err != nil {
		return fmt.Errorf("audit: record event: %w", err)
	}
	return nil
}

// Result is how an audited request ended, as Finish records it.
type Result struct {
	Status    int    // the HTTP status answered
	ErrorCode string // its error code, "" for none
	// IdempotencyKey is the request's idempotency key as its body gave
	// it ("" for none), recorded if Begin had none: a key sent in the body
	// (a deposit's idempotencyKey field) is known only once the body has
	// been read, after Begin.
	IdempotencyKey string
	// ResourceID is the id of what the request created ("" for none),
	// recorded as the outcome's CreatedID, and as the event's resource if
	// Begin had none: a created resource does not exist when its event is
	// written, and its id is how the trail says which token created which
	// user, or which movement a deposit made.
	ResourceID string
	// Subject is the id of an existing resource the request changed or
	// deleted ("" for none), recorded as the event's resource if Begin had
	// none and the request created nothing: PATCH /config, whose route
	// names no resource, re-pointing or deleting the primary webhook
	// endpoint. It is no CreatedID.
	Subject string
	// Replayed: answered from an earlier request's result (Outcome.Replayed).
	Replayed bool
}

// Finish adds the outcome of the request event id describes, once.
func (l *Log) Finish(ctx context.Context, id string, res Result) error {
	now := l.clock.Now().UTC()
	return l.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE audit_events SET status = $2, error_code = $3, completed_at = $4,
			idempotency_key = COALESCE(idempotency_key, $5), resource_id = COALESCE(resource_id, $6, $8), replayed = $7,
			created_id = $6 WHERE id = $1 AND status IS NULL`,
			id, res.Status, nullText(clean(res.ErrorCode, 64)), store.Micros(now), nullText(clean(res.IdempotencyKey, maxValue)),
			nullText(clean(res.ResourceID, maxValue)), res.Replayed, nullText(clean(res.Subject, maxValue)))
		if err != nil {
			return fmt.Errorf("audit: record outcome: %w", err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return fmt.Errorf("audit: record outcome: no event %s without one", id)
		}
		return nil
	})
}

// Filter narrows List. Each field is a filter when set.
type Filter struct {
	TokenID    string
	ResourceID string
	CreatedID  string // the outcome's created id (Outcome.CreatedID)
	Route      string // a route pattern, exactly: "PATCH /config"
	// Created between these times, both inclusive.
	From, To  time.Time
	Ascending bool   // oldest first; by default newest first
	After     string // the id of the previous page's last event
	Limit     int    // List returns up to Limit+1 events
}

// List returns up to f.Limit+1 events in order (the extra one tells the
// caller there is another page).
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	q, args := listQuery(f)
	rows, err := l.db.QueryContext(ctx, q, store.PlanPerCall(l.db.Driver(), args)...)
	if err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// listQuery is List's query and arguments. Each filter is one comparison
// an index serves (0614_audit_events, 0633 for created_id): token_id,
// resource_id, created_id and route with id, for the order; created_at
// alone (TestListFiltersUseIndexes).
func listQuery(f Filter) (string, []any) {
	var w store.Where
	if f.TokenID != "" {
		w.Add("token_id = ?", f.TokenID)
	}
	if f.ResourceID != "" {
		w.Add("resource_id = ?", f.ResourceID)
	}
	if f.CreatedID != "" {
		w.Add("created_id = ?", f.CreatedID)
	}
	if f.Route != "" {
		w.Add("route = ?", f.Route)
	}
	w.Within("created_at", f.From, f.To)
	order := "DESC"
	if f.Ascending {
		order = "ASC"
		if f.After != "" {
			w.Add("id > ?", f.After)
		}
	} else if f.After != "" {
		w.Add("id < ?", f.After)
	}
	q := fmt.Sprintf(`SELECT %s FROM audit_events WHERE %s ORDER BY id %s LIMIT $%d`, eventColumns, w.String(), order, w.Next())
	return q, append(w.Args(), f.Limit+1)
}

// Get returns the event id, or store.ErrNotFound.
func (l *Log) Get(ctx context.Context, id string) (Event, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT `+eventColumns+` FROM audit_events WHERE id = $1`, id)
	if err != nil {
		return Event{}, fmt.Errorf("audit: get event: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Event{}, err
		}
		return Event{}, store.ErrNotFound
	}
	return scan(rows)
}

// eventColumns are the columns scan reads, in its order.
const eventColumns = `id, created_at, token_id, token_name, method, route, path_params, resource_id,
	client_address, request_id, idempotency_key, status, error_code, completed_at, replayed, created_id`

func scan(rows *sql.Rows) (Event, error) {
	var (
		e                  Event
		created            int64
		params             string
		resource, key, ecd sql.NullString
		createdID          sql.NullString
		status, completed  sql.NullInt64
		replayed           sql.NullBool
	)
	if err := rows.Scan(&e.ID, &created, &e.TokenID, &e.TokenName, &e.Method, &e.Route, &params, &resource,
		&e.ClientAddress, &e.RequestID, &key, &status, &ecd, &completed, &replayed, &createdID); err != nil {
		return Event{}, fmt.Errorf("audit: read event: %w", err)
	}
	e.CreatedAt = store.Time(created)
	e.ResourceID, e.IdempotencyKey = resource.String, key.String
	if err := json.Unmarshal([]byte(params), &e.PathParams); err != nil {
		return Event{}, errors.Join(fmt.Errorf("audit: event %s: path parameters", e.ID), err)
	}
	if status.Valid {
		e.Outcome = &Outcome{Status: int(status.Int64), ErrorCode: ecd.String, Replayed: replayed.Bool,
			CreatedID: createdID.String, CompletedAt: store.Time(completed.Int64)}
	}
	return e, nil
}

// clean is outside text as stored: valid UTF-8 without NUL, at most max
// bytes (and an ellipsis).
func clean(s string, max int) string { return vaspd.Truncate(vaspd.Storable(s), max) }

func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
