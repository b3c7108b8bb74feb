package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// ErrEndpointDisabled is what a synchronous send's error wraps (errors.Is)
// when its endpoint exists but is disabled; the error itself is a 409
// *vaspd.Error naming the endpoint and why it is disabled.
var ErrEndpointDisabled = errors.New("delivery: webhook endpoint disabled")

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
	// fanOutWake wakes the fan-out (fanout.go) when a transaction left it
	// work; fanOutChunk is how many deliveries of one event a transaction
	// writes at most (see fanOutChunkFor).
	fanOutWake  chan struct{}
	fanOutChunk int
	// running is the worker of the Run in progress, which enqueues hand
	// their rows to (handoff.go); nil when none runs.
	running atomic.Pointer[worker]

	epGen   atomic.Uint64 // bumped on every endpoint change (matchCache)
	matchMu sync.Mutex
	match   matchCache

	wakeMu  sync.Mutex
	wakeAll bool                // Wake: look at every endpoint
	wakeIDs map[string]struct{} // wakeFor: endpoints with new deliveries

	winMu sync.Mutex
	win   map[string]int // endpoint id → slow-start window (slowstart.go)

	keyMu sync.Mutex
	key   string

	// jobsTimeout bounds one run of replay jobs, pruneStepTimeout each
	// transaction of a pruning pass (maintain.go); tests shorten them.
	jobsTimeout, pruneStepTimeout time.Duration

	// primaryRace, when set (by tests), runs in SetPrimaryURL after it
	// found no primary endpoint and before it creates one.
	primaryRace func(ctx context.Context, tx *store.Tx)
	// jobChunk, when set (by tests), runs before each chunk of a replay job.
	jobChunk func()
	// jobChunkDone, when set (by tests), runs after each chunk of a replay
	// job has committed.
	jobChunkDone func()
	// recordLocked, when set (by tests), runs in the transaction that
	// records attempts once it has updated their deliveries.
	recordLocked func()
	// claimTx, when set (by tests), runs before each claim transaction.
	claimTx func(only string)
	// releaseTx, when set (by tests), runs before each hand-back of
	// claimed, unstarted deliveries (release, releaseNow).
	releaseTx func()
	// dropHandoff, when set (by tests), sees each committed handoff and
	// may drop it (true), as a process dying before the handoff would.
	dropHandoff func(rows []claimed) bool
}

// New returns a Service over db, whose migrations must be applied.
// It refuses options that make no sense (RetryPolicy.Validate, a
// MinAttemptTimeout above MaxAttemptTimeout, an AttemptTimeout outside
// them).
func New(db *store.DB, opt Options) (*Service, error) {
	if err := opt.Retry.Validate(); err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	if opt.MinAttemptTimeout > opt.MaxAttemptTimeout {
		return nil, fmt.Errorf("delivery: MinAttemptTimeout %s is above MaxAttemptTimeout %s", opt.MinAttemptTimeout, opt.MaxAttemptTimeout)
	}
	// The bounds of an endpoint's own timeout hold for the default one as
	// well: one below the floor times every attempt out, for days.
	if opt.AttemptTimeout < opt.MinAttemptTimeout || opt.AttemptTimeout > opt.MaxAttemptTimeout {
		return nil, fmt.Errorf("delivery: AttemptTimeout %s is outside MinAttemptTimeout %s to MaxAttemptTimeout %s", opt.AttemptTimeout, opt.MinAttemptTimeout, opt.MaxAttemptTimeout)
	}
	guard, err := ssrf.New(opt.AllowNets)
	if err != nil {
		return nil, fmt.Errorf("delivery: allow-list: %w", err)
	}
	if opt.Signer == nil {
		opt.Signer = DefaultSigner()
	}
	s := &Service{
		db:    db,
		opt:   opt,
		guard: guard,
		rnd:   defaultRand,
		wake:  make(chan struct{}, 1),

		jobsTimeout:      jobsTimeout,
		pruneStepTimeout: pruneStepTimeout,
		win:              map[string]int{},

		fanOutWake:  make(chan struct{}, 1),
		fanOutChunk: fanOutChunkFor(db.Driver()),
	}
	s.client = newClient(guard, opt.ConnectTimeout, opt.MaxInFlight)
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
//
// The rows are written when tx commits (a store.Flusher), together with
// every other event enqueued in tx, in a few multi-row statements: a
// transaction enqueueing a hundred events costs about what one costs. An
// error writing them (such as a duplicate Event.ID) is returned by the
// transaction's InTx instead of by Enqueue.
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

// MaxAttemptTimeout is the longest one attempt may wait for its receiver:
// the cap on every endpoint's timeout (Options.MaxAttemptTimeout). A
// synchronous send (Send, SendTest) waits up to its endpoint's timeout.
func (s *Service) MaxAttemptTimeout() time.Duration { return s.opt.MaxAttemptTimeout }

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
