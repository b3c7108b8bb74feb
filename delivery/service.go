package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

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
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO webhook_events (id, type, payload, occurred_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
		ev.ID, ev.Type, body, store.Micros(ev.Time), us); err != nil {
		return "", fmt.Errorf("delivery: insert event: %w", err)
	}
	// The filter is matched in SQL first (LIKE treats "_" in a type as a
	// wildcard, so matchesType confirms), so an event reads only the
	// endpoints that may want it.
	q := `SELECT id, event_types FROM webhook_endpoints WHERE enabled AND deleted_at = 0
		AND (event_types = '' OR ',' || event_types || ',' LIKE $1)`
	args := []any{"%," + ev.Type + ",%"}
	if only != "" {
		q = `SELECT id, event_types FROM webhook_endpoints WHERE id = $1 AND deleted_at = 0`
		args = []any{only}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return "", fmt.Errorf("delivery: match endpoints: %w", err)
	}
	var targets []string
	for rows.Next() {
		var id, types string
		if err := rows.Scan(&id, &types); err != nil {
			rows.Close()
			return "", err
		}
		if only != "" || matchesType(types, ev.Type) {
			targets = append(targets, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	if only != "" && len(targets) == 0 {
		return "", vaspd.NotFound(vaspd.CodeWebhookEndpointNotFound, "webhook endpoint %s not found", only)
	}
	if err := insertDeliveries(ctx, tx, ev.ID, targets, us); err != nil {
		return "", err
	}
	if len(targets) > 0 {
		tx.AfterCommit(s.Wake)
	}
	return ev.ID, nil
}

// insertDeliveries writes one pending delivery of event per endpoint, many
// rows per statement.
func insertDeliveries(ctx context.Context, tx *store.Tx, event string, endpoints []string, us int64) error {
	const per = 100
	for start := 0; start < len(endpoints); start += per {
		part := endpoints[start:min(start+per, len(endpoints))]
		var b strings.Builder
		b.WriteString(`INSERT INTO webhook_deliveries
			(id, event_id, endpoint_id, status, attempts, next_attempt_at, lease_token, first_attempt_at,
			 last_status, last_error, created_at, updated_at, finished_at) VALUES `)
		args := make([]any, 0, 2+2*len(part))
		args = append(args, event, us)
		for i, ep := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "($%d, $1, $%d, 'pending', 0, $2, '', 0, 0, '', $2, $2, 0)", 3+2*i, 4+2*i)
			args = append(args, vaspd.NewID(vaspd.IDDelivery), ep)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("delivery: insert deliveries: %w", err)
		}
	}
	return nil
}

// Wake makes a running worker look for due deliveries now.
func (s *Service) Wake() {
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
