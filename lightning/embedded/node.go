package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// DefaultKeyName is the store secret holding the node key.
const DefaultKeyName = "lightning.embedded.node_key"

// DefaultInitialBalanceMsat is the balance a new node starts with: 1 BTC of
// test-network money.
const DefaultInitialBalanceMsat = 100_000_000_000

// DefaultInvoiceExpiry is used when an InvoiceRequest has no expiry (lnd's
// AddInvoice default).
const DefaultInvoiceExpiry = 24 * time.Hour

// DefaultPayTimeout is used when a PayRequest has no timeout.
const DefaultPayTimeout = 60 * time.Second

// Options configure a Node. The zero value is a regtest node with a 1 BTC
// opening balance, free routing and no devnet peers.
type Options struct {
	// Network is "regtest" (default), "testnet", "signet" or "simnet".
	// "mainnet" is refused: the embedded node's money is not real, so its
	// invoices must never be payable by a real wallet.
	Network string
	// Alias is the node's human-readable name, reported by Info.
	Alias string
	// KeyName is the store secret holding the node key (DefaultKeyName).
	// Processes sharing a database and a KeyName are one node; a different
	// KeyName makes a different node in the same database.
	KeyName string
	// InitialBalanceMsat is credited when the node is first created; 0
	// means DefaultInitialBalanceMsat, unless StartEmpty. Use SetBalance
	// for anything else.
	InitialBalanceMsat int64
	// StartEmpty creates the node with no balance at all: it can pay
	// nothing until it has received (or been given, SetBalance) money.
	// InitialBalanceMsat must then be 0. Like the opening balance, it
	// counts only when the node is first created.
	StartEmpty bool

	// FeeBaseMsat and FeePPM are the routing fee charged on payments to
	// other nodes: base + amount*ppm/1e6. Payments to itself are free.
	FeeBaseMsat int64
	FeePPM      int64

	// DevnetSecret authenticates devnet calls in both directions; empty
	// disables the devnet (the handler answers 404, no peers are called).
	DevnetSecret string
	// DevnetPeers are other nodes' vaspd base URLs ("http://127.0.0.1:8081"),
	// optionally pinned to a pubkey as "<pubkey hex>@<url>". Unpinned peers'
	// pubkeys are learned from their info endpoint.
	DevnetPeers []string
	// DevnetTimeout bounds one devnet HTTP call (default 30s).
	DevnetTimeout time.Duration
	// HTTPClient makes devnet calls (default: a client with DevnetTimeout).
	HTTPClient *http.Client

	// Clock tells the time for invoice timestamps and expiry (system clock).
	Clock vaspd.Clock
	// Rand supplies keys, preimages and payment secrets (crypto/rand).
	// Tests may pass a seeded reader for reproducible invoices.
	Rand io.Reader
	// Logger receives operational logs (none by default).
	Logger *slog.Logger
	// PollInterval is how often settled-invoice subscriptions look for
	// settlements made by other processes sharing the database (1s).
	PollInterval time.Duration
	// RetryInterval is how often payments still in flight are retried (2s).
	RetryInterval time.Duration
}

func (o *Options) normalize() error {
	if o.Network == "" {
		o.Network = bolt11.Regtest
	}
	if o.Network == bolt11.Mainnet {
		return lightning.ErrMainnetNotAllowed
	}
	if _, err := bolt11.Params(o.Network); err != nil {
		return err
	}
	if o.KeyName == "" {
		o.KeyName = DefaultKeyName
	}
	switch {
	case o.StartEmpty && o.InitialBalanceMsat != 0:
		return fmt.Errorf("initial balance %d msat with StartEmpty", o.InitialBalanceMsat)
	case o.InitialBalanceMsat == 0 && !o.StartEmpty:
		o.InitialBalanceMsat = DefaultInitialBalanceMsat
	}
	if o.InitialBalanceMsat < 0 || o.InitialBalanceMsat > bolt11.MaxAmountMsat {
		return fmt.Errorf("initial balance %d msat out of range", o.InitialBalanceMsat)
	}
	if o.FeeBaseMsat < 0 || o.FeePPM < 0 || o.FeeBaseMsat > bolt11.MaxAmountMsat || o.FeePPM > 1_000_000 {
		return errors.New("fee model out of range")
	}
	if o.DevnetTimeout <= 0 {
		o.DevnetTimeout = 30 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.DevnetTimeout}
	}
	if o.Clock == nil {
		o.Clock = vaspd.SystemClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 2 * time.Second
	}
	return nil
}

// Node is the embedded Lightning node. It implements lightning.Node; create
// it with Open and stop it with Close.
type Node struct {
	db     *store.DB
	opts   Options
	key    *secp256k1.PrivateKey
	pubkey string
	log    *slog.Logger
	peers  *peerBook
	faults atomic.Pointer[Faults]
	wake   *notifier

	decoded  recent[string, bolt11.Invoice]          // invoices decoded to pay (decodeForPay)
	recorded recent[lightning.Hash, recordedPayment] // payments just recorded, for the Pay that follows

	ctx    context.Context // ends at Close; background work runs under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	inflight map[lightning.Hash]*run // attempts running in this process
	closed   bool
}

var _ lightning.Node = (*Node)(nil)

// Open loads the node's key from db (generating and storing it on first
// start), creates its balance row if needed and starts the background work
// that resolves payments left in flight by an earlier process.
func Open(ctx context.Context, db *store.DB, opts Options) (*Node, error) {
	if db == nil {
		return nil, errors.New("embedded: no database")
	}
	if err := opts.normalize(); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	raw, err := store.GetOrCreateSecret(ctx, db, opts.KeyName, func() ([]byte, error) {
		k, err := secp256k1.GeneratePrivateKeyFromRand(opts.Rand)
		if err != nil {
			return nil, err
		}
		return k.Serialize(), nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded: node key: %w", err)
	}
	key, err := parseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("embedded: node key %s: %w", opts.KeyName, err)
	}
	peers, err := newPeerBook(opts.DevnetPeers, opts.DevnetSecret, opts.HTTPClient, opts.Network)
	if err != nil {
		return nil, fmt.Errorf("embedded: devnet peers: %w", err)
	}
	n := &Node{
		db:       db,
		opts:     opts,
		key:      key,
		pubkey:   hex.EncodeToString(key.PubKey().SerializeCompressed()),
		log:      opts.Logger.With("component", "lightning/embedded"),
		peers:    peers,
		wake:     newNotifier(),
		inflight: map[lightning.Hash]*run{},
	}
	n.faults.Store(&Faults{})
	if _, err := db.ExecContext(ctx,
		`INSERT INTO ln_embedded_nodes (pubkey, balance_msat, settle_index, created_at)
		 VALUES ($1, $2, 0, $3) ON CONFLICT (pubkey) DO NOTHING`,
		n.pubkey, opts.InitialBalanceMsat, store.Micros(opts.Clock.Now())); err != nil {
		return nil, fmt.Errorf("embedded: create node row: %w", err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(1)
	go n.retryLoop()
	n.log.Info("embedded lightning node started", "pubkey", n.pubkey, "network", opts.Network)
	return n, nil
}

// parseKey checks a stored key is a valid secp256k1 scalar: PrivKeyFromBytes
// would silently reduce an out-of-range value to a different key.
func parseKey(b []byte) (*secp256k1.PrivateKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("want 32 bytes, have %d", len(b))
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, errors.New("not a valid secp256k1 private key")
	}
	return secp256k1.NewPrivateKey(&s), nil
}

// Close stops background work and waits for running payment attempts to
// end. Payments still in flight stay so in the database and are resolved by
// the next Open (or by another process sharing the database).
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	return nil
}

// PubKey is the node's public key, 33-byte compressed, hex.
func (n *Node) PubKey() string { return n.pubkey }

// Info returns the node's identity.
func (n *Node) Info(ctx context.Context) (lightning.NodeInfo, error) {
	return lightning.NodeInfo{PubKey: n.pubkey, Network: n.opts.Network, Alias: n.opts.Alias, PaysOwnInvoices: true}, nil
}

func (n *Node) now() time.Time { return n.opts.Clock.Now() }

// randHash reads 32 random bytes.
func (n *Node) randHash() (lightning.Hash, error) {
	var h lightning.Hash
	if _, err := io.ReadFull(n.opts.Rand, h[:]); err != nil {
		return h, fmt.Errorf("embedded: random: %w", err)
	}
	return h, nil
}

// notifier wakes subscribers when this process settles an invoice.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next notify.
func (w *notifier) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *notifier) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}

func hexHash(h lightning.Hash) string { return hex.EncodeToString(h[:]) }

func parseHash(s string) (lightning.Hash, error) {
	var h lightning.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("embedded: bad stored hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}
