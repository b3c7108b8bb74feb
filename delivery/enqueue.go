package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// Enqueueing buffers a transaction's events and writes them just before it
// commits (enqueueBuffer, a store.Flusher), so that an event costs its share
// of a few multi-row statements instead of two statements of its own: one
// event per transaction is as before, a hundred are ~10× cheaper per event.
// Nothing else reads webhook_events or webhook_deliveries inside the
// enqueueing transaction, so writing them late changes nothing but the cost.

func (s *Service) enqueue(ctx context.Context, tx *store.Tx, ev Event, only string) (string, error) {
	now := s.opt.Clock.Now()
	body, err := ev.encode(now)
	if err != nil {
		return "", err
	}
	var targets []string
	if only != "" {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM webhook_endpoints WHERE id = $1 AND deleted_at = 0`, only).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return "", vaspd.NotFound(vaspd.CodeWebhookEndpointNotFound, "webhook endpoint %s not found", only)
		}
		if err != nil {
			return "", fmt.Errorf("delivery: match endpoints: %w", err)
		}
		targets = []string{id}
	} else if targets, err = s.matchEndpoints(ctx, tx, ev.Type); err != nil {
		return "", err
	}
	be := bufferedEvent{id: ev.ID, typ: ev.Type, body: body, occurredAt: store.Micros(ev.Time), createdAt: store.Micros(now),
		traceParent: traceEnqueue(ctx, tx, ev.ID, ev.Type)}
	if len(targets) > s.fanOutChunk {
		be.fanOut = targets
	} else {
		be.endpoints = targets
	}
	b := s.buffer(tx)
	b.events = append(b.events, be)
	return ev.ID, nil
}

// EnqueueMany is Enqueue for several events in one transaction. It returns
// the webhookIds in the order of evs.
func (s *Service) EnqueueMany(ctx context.Context, tx *store.Tx, evs []Event) ([]string, error) {
	ids := make([]string, len(evs))
	for i, ev := range evs { // ev is a copy: encode fills in defaults
		id, err := s.enqueue(ctx, tx, ev, "")
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// bufferKey names this Service's buffer among a transaction's flushers.
type bufferKey struct{ s *Service }

func (s *Service) buffer(tx *store.Tx) *enqueueBuffer {
	return tx.Flusher(bufferKey{s}, func() store.Flusher { return &enqueueBuffer{s: s} }).(*enqueueBuffer)
}

// enqueueBuffer holds the events a transaction enqueued until it commits.
type enqueueBuffer struct {
	s      *Service
	events []bufferedEvent
}

type bufferedEvent struct {
	id, typ    string
	body       []byte
	occurredAt int64
	createdAt  int64
	// traceParent: the W3C traceparent of the sampled span that enqueued
	// the event ("" for none: NULL), which its attempts link to (tracing.go).
	traceParent string
	endpoints   []string // written with the event
	// fanOut: the endpoints whose deliveries the worker writes later, in
	// chunks (fanout.go); set instead of endpoints for a wide event.
	fanOut []string
}

// Row limits per statement keep every statement under both databases'
// parameter limits (SQLite 32766, PostgreSQL 65535).
const (
	eventsPerStatement     = 200 // 5 parameters each, 6 with trace_parent
	deliveriesPerStatement = 500 // 6 parameters each
)

// Flush writes the buffered events and their deliveries and, once the
// transaction has committed, wakes the worker for their endpoints.
func (b *enqueueBuffer) Flush(ctx context.Context, tx *store.Tx) error {
	if len(b.events) == 0 {
		return nil
	}
	evs := b.events
	b.events = nil // a second Flush (none is expected) writes nothing twice
	pg := tx.Driver().Name() == "postgres"
	// Rows this Service's running worker can take are written leased to it
	// and handed over after the commit (handoff.go).
	var h *handoff
	if w := b.s.running.Load(); w != nil {
		var err error
		if h, err = w.planHandoff(ctx, tx, evs); err != nil {
			return err
		}
	}
	for start := 0; start < len(evs); start += eventsPerStatement {
		chunk := evs[start:min(start+eventsPerStatement, len(evs))]
		n := 0
		for _, ev := range chunk {
			n += len(ev.endpoints)
		}
		// On PostgreSQL the events ride in the deliveries' statement (a
		// data-modifying WITH): one round trip for a typical transaction.
		withEvents := pg && n > 0 && n <= deliveriesPerStatement
		if !withEvents {
			if err := writeEvents(ctx, tx, chunk, nil); err != nil {
				return err
			}
		}
		if err := writeDeliveries(ctx, tx, chunk, withEvents, h); err != nil {
			return err
		}
	}
	if deferred, err := writeFanOuts(ctx, tx, evs); err != nil {
		return err
	} else if deferred {
		tx.AfterCommit(b.s.signalFanOut)
	}
	// Wake the worker for the endpoints of the rows not handed off.
	var eps []string
	if h != nil {
		eps = h.due
	} else {
		for _, ev := range evs {
			eps = append(eps, ev.endpoints...)
		}
	}
	if len(eps) > 0 {
		tx.AfterCommit(func() { b.s.wakeFor(eps) })
	}
	if h != nil && len(h.rows) > 0 {
		rows := h.rows
		tx.AfterCommit(func() { h.w.accept(rows) })
	}
	return nil
}

const (
	insertEvents       = `INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES `
	insertTracedEvents = `INSERT INTO webhook_events (id, type, payload, occurred_at, created_at, trace_parent) VALUES `
)

// writeEvents inserts evs (in statements of statementRows rows) or, when
// with is not nil, appends their one INSERT to the statement with for the
// caller to complete (the WITH clause of writeDeliveries, PostgreSQL only).
//
// A statement names trace_parent only if one of its events has one: the
// statements of an untraced process are the ones they were before the
// column existed (same text, same prepared statements, no parameter more).
func writeEvents(ctx context.Context, tx *store.Tx, evs []bufferedEvent, with *stmt) error {
	for len(evs) > 0 {
		k := len(evs)
		st := with
		if st == nil {
			k = statementRows(tx.Driver(), len(evs), eventsPerStatement)
			st = newStmt(tx.Driver())
		}
		traced := false
		for _, ev := range evs[:k] {
			if ev.traceParent != "" {
				traced = true
				break
			}
		}
		if traced {
			st.b.WriteString(insertTracedEvents)
		} else {
			st.b.WriteString(insertEvents)
		}
		for i, ev := range evs[:k] {
			if i > 0 {
				st.b.WriteString(", ")
			}
			if !traced {
				st.b.WriteString("(" + st.p.list(5) + ")")
				st.args = append(st.args, ev.id, ev.typ, ev.body, ev.occurredAt, ev.createdAt)
				continue
			}
			st.b.WriteString("(" + st.p.list(6) + ")")
			var tp any // NULL
			if ev.traceParent != "" {
				tp = ev.traceParent
			}
			st.args = append(st.args, ev.id, ev.typ, ev.body, ev.occurredAt, ev.createdAt, tp)
		}
		if with != nil {
			return nil
		}
		if _, err := tx.ExecContext(ctx, st.b.String(), st.args...); err != nil {
			return fmt.Errorf("delivery: insert events: %w", err)
		}
		evs = evs[k:]
	}
	return nil
}

// writeDeliveries inserts one pending delivery per event and endpoint, in
// statements of statementRows rows; withEvents puts the
// events' own INSERT in front of the first (PostgreSQL only). Rows h hands
// off are written leased (handoff.go), the others due now and unleased.
func writeDeliveries(ctx context.Context, tx *store.Tx, evs []bufferedEvent, withEvents bool, h *handoff) error {
	st := newStmt(tx.Driver())
	rows, left := 0, 0
	for _, ev := range evs {
		left += len(ev.endpoints)
	}
	limit := statementRows(tx.Driver(), left, deliveriesPerStatement)
	what := "deliveries"
	if withEvents {
		what = "events and deliveries"
	}
	flush := func() error {
		if rows == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, st.b.String(), st.args...); err != nil {
			return fmt.Errorf("delivery: insert %s: %w", what, err)
		}
		what = "deliveries"
		left -= rows
		st, rows = newStmt(tx.Driver()), 0
		limit = statementRows(tx.Driver(), left, deliveriesPerStatement)
		return nil
	}
	if withEvents {
		st.b.WriteString("WITH ev AS (")
		if err := writeEvents(ctx, tx, evs, st); err != nil {
			return err
		}
		st.b.WriteString(") ")
	}
	for i := range evs {
		ev := &evs[i]
		for _, ep := range ev.endpoints {
			if rows == limit {
				if err := flush(); err != nil {
					return err
				}
			}
			if rows == 0 {
				st.b.WriteString(`INSERT INTO webhook_deliveries
			(id, event_id, endpoint_id, status, attempts, next_attempt_at, lease_token, first_attempt_at,
			 last_status, last_error, created_at, updated_at, finished_at) VALUES `)
			} else {
				st.b.WriteString(", ")
			}
			p := st.p
			fmt.Fprintf(&st.b, "(%s, %s, %s, 'pending', 0, %s, %s, 0, 0, '', %s, %s, 0)",
				p.next(), p.next(), p.next(), p.next(), p.next(), p.next(), p.next())
			id := vaspd.NewID(vaspd.IDDelivery)
			nextAt, token, ok := h.take(id, ev, ep)
			if !ok {
				nextAt = ev.createdAt
			}
			st.args = append(st.args, id, ev.id, ep, nextAt, token, ev.createdAt, ev.createdAt)
			rows++
		}
	}
	return flush()
}

// stmt is a statement being built: its text, placeholders and arguments.
type stmt struct {
	b    strings.Builder
	p    *params
	args []any
}

func newStmt(d store.Driver) *stmt { return &stmt{p: newParams(d)} }
