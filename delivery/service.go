package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/webhook"
)

// Delivery statuses.
const (
	StatusPending   = "pending"   // waiting for its next attempt (or its endpoint to be re-enabled)
	StatusSending   = "sending"   // a synchronous send in progress
	StatusDelivered = "delivered" // the receiver answered 2xx or 409
	StatusFailed    = "failed"    // a synchronous send that did not succeed; never retried
	StatusDead      = "dead"      // retry window exhausted; replayable
)

// ErrNoEndpoint is returned by synchronous sends when no endpoint is
// configured (the API maps it to WEBHOOK_ENDPOINT_NOT_SET).
var ErrNoEndpoint = errors.New("delivery: no webhook endpoint configured")

// Service is the durable webhook sender: Enqueue in the caller's transaction,
// Run the worker, Send synchronously, and manage endpoints and deliveries.
// One Service per process; any number of processes may share a PostgreSQL
// database.
type Service struct {
	db     *store.DB
	opt    Options
	guard  *ssrf.Guard
	client *http.Client
	m      *metrics
	rnd    func() float64

	wake chan struct{}

	epGen   atomic.Uint64 // bumped on every endpoint change (matchCache)
	matchMu sync.Mutex
	match   matchCache

	dueMu   sync.Mutex
	dueStmt *sql.Stmt // dueEndpoints, prepared on first use
	oneStmt *sql.Stmt // dueEndpoints for one endpoint

	wakeMu  sync.Mutex
	wakeAll bool                // Wake: look at every endpoint
	wakeIDs map[string]struct{} // wakeFor: endpoints with new deliveries

	winMu sync.Mutex
	win   map[string]int // endpoint id → slow-start window (slowstart.go)

	keyMu sync.Mutex
	key   string
}

// New returns a Service over db, whose migrations must be applied.
func New(db *store.DB, opt Options) (*Service, error) {
	opt = opt.withDefaults()
	guard, err := ssrf.New(opt.AllowNets)
	if err != nil {
		return nil, fmt.Errorf("delivery: allow-list: %w", err)
	}
	if opt.Signer == nil {
		opt.Signer = defaultSigner()
	}
	s := &Service{
		db:    db,
		opt:   opt,
		guard: guard,
		rnd:   defaultRand,
		wake:  make(chan struct{}, 1),
		win:   map[string]int{},
	}
	s.client = newClient(guard, opt.ConnectTimeout)
	s.m, err = newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Enqueue records ev and one delivery per enabled endpoint whose filter
// matches ev.Type, inside tx: the caller's state change and its webhook
// commit or roll back together. It returns the webhookId. Nothing is sent
// before tx commits.
func (s *Service) Enqueue(ctx context.Context, tx *store.Tx, ev Event) (string, error) {
	return s.enqueue(ctx, tx, ev, "")
}

// EnqueueTo is Enqueue for one endpoint only, whatever its filter (used for
// the TEST webhook sent when an endpoint's URL changes).
func (s *Service) EnqueueTo(ctx context.Context, tx *store.Tx, endpointID string, ev Event) (string, error) {
	if endpointID == "" {
		return "", errors.New("delivery: EnqueueTo needs an endpoint id")
	}
	return s.enqueue(ctx, tx, ev, endpointID)
}

func (s *Service) enqueue(ctx context.Context, tx *store.Tx, ev Event, only string) (string, error) {
	now := s.opt.Clock.Now()
	body, err := ev.encode(now)
	if err != nil {
		return "", err
	}
	us := store.Micros(now)
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
	if err := insertEventAndDeliveries(ctx, tx, ev, body, targets, us); err != nil {
		return "", err
	}
	if len(targets) > 0 {
		tx.AfterCommit(func() { s.wakeFor(targets) })
	}
	return ev.ID, nil
}

// EnqueueMany is Enqueue for several events in one transaction: the same
// records, written with a few multi-row statements instead of one or more
// per event. It returns the webhookIds in the order of evs.
func (s *Service) EnqueueMany(ctx context.Context, tx *store.Tx, evs []Event) ([]string, error) {
	now := s.opt.Clock.Now()
	us := store.Micros(now)
	ids := make([]string, len(evs))
	types := make([]string, len(evs))
	times := make([]int64, len(evs))
	bodies := make([][]byte, len(evs))
	var deliveries [][2]string // event id, endpoint id
	for i := range evs {
		ev := evs[i] // encode fills in defaults; leave the caller's slice alone
		body, err := ev.encode(now)
		if err != nil {
			return nil, err
		}
		targets, err := s.matchEndpoints(ctx, tx, ev.Type)
		if err != nil {
			return nil, err
		}
		for _, ep := range targets {
			deliveries = append(deliveries, [2]string{ev.ID, ep})
		}
		ids[i], types[i], times[i], bodies[i] = ev.ID, ev.Type, store.Micros(ev.Time), body
	}
	const evPer = 200 // 5 placeholders a row
	for start := 0; start < len(evs); start += evPer {
		end := min(start+evPer, len(evs))
		var b strings.Builder
		b.WriteString(`INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES `)
		args := make([]any, 0, 5*(end-start))
		p := newParams(tx.Driver())
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString("(" + p.list(5) + ")")
			args = append(args, ids[i], types[i], bodies[i], times[i], us)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return nil, fmt.Errorf("delivery: insert events: %w", err)
		}
	}
	const dPer = 500 // 6 placeholders a row
	for start := 0; start < len(deliveries); start += dPer {
		end := min(start+dPer, len(deliveries))
		var b strings.Builder
		b.WriteString(`INSERT INTO webhook_deliveries
			(id, event_id, endpoint_id, status, attempts, next_attempt_at, lease_token, first_attempt_at,
			 last_status, last_error, created_at, updated_at, finished_at) VALUES `)
		args := make([]any, 0, 6*(end-start))
		p := newParams(tx.Driver())
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%s, %s, %s, 'pending', 0, %s, '', 0, 0, '', %s, %s, 0)",
				p.next(), p.next(), p.next(), p.next(), p.next(), p.next())
			args = append(args, vaspd.NewID(vaspd.IDDelivery), deliveries[i][0], deliveries[i][1], us, us, us)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return nil, fmt.Errorf("delivery: insert deliveries: %w", err)
		}
	}
	if len(deliveries) > 0 {
		eps := make([]string, len(deliveries))
		for i, d := range deliveries {
			eps[i] = d[1]
		}
		tx.AfterCommit(func() { s.wakeFor(eps) })
	}
	return ids, nil
}

// matchCache remembers, for the most recent transaction that enqueued, which
// enabled endpoints each event type goes to, so a transaction enqueueing many
// events reads the endpoint table once. It holds that *store.Tx, so the
// pointer cannot be reused by another transaction while it is cached. It is
// dropped whenever this Service changes an endpoint (gen), including in the
// same transaction (EnqueueTo after SetPrimaryURL). A transaction thus sees
// the endpoint list as of its first Enqueue: on SQLite nobody else can write
// during it anyway; on PostgreSQL (read committed) an endpoint committed by
// another process meanwhile is treated like one committed just after this
// transaction, which read committed allows for the first read already.
type matchCache struct {
	tx     *store.Tx
	gen    uint64
	byType map[string][]string
}

// endpointsChanged invalidates the enqueue match cache; called by every
// write to webhook_endpoints that Enqueue's filter depends on.
func (s *Service) endpointsChanged() { s.epGen.Add(1) }

// matchEndpoints returns the enabled endpoints whose filter admits typ.
func (s *Service) matchEndpoints(ctx context.Context, tx *store.Tx, typ string) ([]string, error) {
	gen := s.epGen.Load()
	s.matchMu.Lock()
	if s.match.tx == tx && s.match.gen == gen {
		if t, ok := s.match.byType[typ]; ok {
			s.matchMu.Unlock()
			return t, nil
		}
	}
	s.matchMu.Unlock()
	// The filter is matched in SQL first (LIKE treats "_" in a type as a
	// wildcard, so matchesType confirms), so an event reads only the
	// endpoints that may want it.
	rows, err := tx.QueryContext(ctx, `SELECT id, event_types FROM webhook_endpoints WHERE enabled AND deleted_at = 0
		AND (event_types = '' OR ',' || event_types || ',' LIKE $1)`, "%,"+typ+",%")
	if err != nil {
		return nil, fmt.Errorf("delivery: match endpoints: %w", err)
	}
	var targets []string
	for rows.Next() {
		var id, types string
		if err := rows.Scan(&id, &types); err != nil {
			rows.Close()
			return nil, fmt.Errorf("delivery: match endpoints: %w", err)
		}
		if matchesType(types, typ) {
			targets = append(targets, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: match endpoints: %w", err)
	}
	s.matchMu.Lock()
	if s.match.tx != tx || s.match.gen != gen {
		s.match = matchCache{tx: tx, gen: gen, byType: map[string][]string{}}
	}
	s.match.byType[typ] = targets
	s.matchMu.Unlock()
	return targets, nil
}

// insertEventAndDeliveries writes the event and one pending delivery per
// endpoint, many rows per statement. On PostgreSQL the event rides in the
// first deliveries statement (a data-modifying WITH), so a typical event
// costs one round trip.
func insertEventAndDeliveries(ctx context.Context, tx *store.Tx, ev Event, body []byte, endpoints []string, us int64) error {
	const insertEvent = `INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5)`
	eventArgs := []any{ev.ID, ev.Type, body, store.Micros(ev.Time), us}
	withEvent := tx.Driver().Name() == "postgres" && len(endpoints) > 0
	if !withEvent {
		if _, err := tx.ExecContext(ctx, insertEvent, eventArgs...); err != nil {
			return fmt.Errorf("delivery: insert event: %w", err)
		}
	}
	const per = 100
	for start := 0; start < len(endpoints); start += per {
		part := endpoints[start:min(start+per, len(endpoints))]
		var b strings.Builder
		args := make([]any, 0, 7+2*len(part))
		evN, at := 1, 2 // placeholders of the event id and the time
		if withEvent && start == 0 {
			b.WriteString("WITH ev AS (" + insertEvent + ") ")
			args = append(args, eventArgs...)
			at = 5
		} else {
			args = append(args, ev.ID, us)
		}
		b.WriteString(`INSERT INTO webhook_deliveries
			(id, event_id, endpoint_id, status, attempts, next_attempt_at, lease_token, first_attempt_at,
			 last_status, last_error, created_at, updated_at, finished_at) VALUES `)
		for i, ep := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			n := len(args) + 1
			fmt.Fprintf(&b, "($%d, $%d, $%d, 'pending', 0, $%d, '', 0, 0, '', $%d, $%d, 0)", n, evN, n+1, at, at, at)
			args = append(args, vaspd.NewID(vaspd.IDDelivery), ep)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("delivery: insert event deliveries: %w", err)
		}
	}
	return nil
}

// Wake makes a running worker look for due deliveries now.
func (s *Service) Wake() {
	s.wakeMu.Lock()
	s.wakeAll, s.wakeIDs = true, nil
	s.wakeMu.Unlock()
	s.signal()
}

// wakeFor makes a running worker look for due deliveries of these
// endpoints now (they just got new ones). A claim for one endpoint reads
// only that endpoint, so a stream of events to a healthy endpoint does not
// make the worker re-read every endpoint with work (e.g. a hundred timing
// out) for each event.
func (s *Service) wakeFor(endpoints []string) {
	s.wakeMu.Lock()
	if !s.wakeAll {
		if s.wakeIDs == nil {
			s.wakeIDs = map[string]struct{}{}
		}
		for _, id := range endpoints {
			s.wakeIDs[id] = struct{}{}
		}
	}
	s.wakeMu.Unlock()
	s.signal()
}

// takeWake returns and clears what woke the worker: all endpoints, or a set.
func (s *Service) takeWake() (ids []string, all bool) {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	all = s.wakeAll
	for id := range s.wakeIDs {
		ids = append(ids, id)
	}
	s.wakeAll, s.wakeIDs = false, nil
	return ids, all
}

func (s *Service) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// matchesType reports whether a comma-separated filter admits typ; an empty
// filter admits every type.
func matchesType(filter, typ string) bool {
	if filter == "" {
		return true
	}
	for _, f := range strings.Split(filter, ",") {
		if f == typ {
			return true
		}
	}
	return false
}

// signingKey is vaspd's "whsk_" ed25519 key for v1a signatures, created on
// first use and shared by every process through the secrets table.
func (s *Service) signingKey(ctx context.Context) (string, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != "" {
		return s.key, nil
	}
	v, err := store.GetOrCreateSecret(ctx, s.db, "webhook-ed25519-signing-key", func() ([]byte, error) {
		sk, _, err := webhook.NewSigningKey()
		return []byte(sk), err
	})
	if err != nil {
		return "", fmt.Errorf("delivery: ed25519 key: %w", err)
	}
	if _, err := webhook.PublicKey(string(v)); err != nil {
		return "", fmt.Errorf("delivery: stored ed25519 key: %w", err)
	}
	s.key = string(v)
	return s.key, nil
}

// PublicKey returns vaspd's "whpk_" ed25519 public key that verifies v1a
// signatures; serve it to receivers (e.g. GET /webhooks/public-key).
func (s *Service) PublicKey(ctx context.Context) (string, error) {
	k, err := s.signingKey(ctx)
	if err != nil {
		return "", err
	}
	return webhook.PublicKey(k)
}
