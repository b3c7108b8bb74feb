package lnd

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/lnd/internal/rest"
	"github.com/vaspd/vaspd/store"
)

// Node is the LND backend: a lightning.Node over lnd's REST API.
// Create it with New; safe for concurrent use.
type Node struct {
	rest  *rest.Client
	opts  Options
	db    *store.DB
	clock vaspd.Clock
	log   *slog.Logger

	mu      sync.Mutex
	info    lightning.NodeInfo               // cached once lnd answered
	open    map[lightning.Hash]time.Time     // invoices created here, still open: hash → expiry
	pollers map[chan lightning.Hash]struct{} // SubscribeSettled loops to nudge
	// feeLogged: payments whose fee above their limit was logged (noteFeeAboveLimit).
	feeLogged map[lightning.Hash]bool
}

var _ lightning.Node = (*Node)(nil)

// ErrOtherNetwork: lnd is on another network than Options.Network.
var ErrOtherNetwork = errors.New("lnd: the node is on another network than configured")

// ErrMacaroonRefused: lnd refused the macaroon (another node's, expired,
// malformed, or without a permission the call needs). ErrCertificateRefused:
// the server's certificate is not the pinned tls.cert, or not for the
// URL's host. Neither goes away by retrying; vaspd names the setting at
// fault when it meets one at start.
var (
	ErrMacaroonRefused    = errors.New("lnd: the macaroon is refused")
	ErrCertificateRefused = errors.New("lnd: the server's certificate is not the pinned tls.cert")
)

// New checks opts and prepares the client. It does not contact lnd, so
// vaspd can start while its node is still starting; the first call that
// needs lnd reports ErrUnavailable until it answers.
func New(opts Options) (*Node, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	c, err := rest.New(rest.Config{
		BaseURL:        opts.RESTURL,
		TLSCertPEM:     opts.TLSCertPEM,
		Macaroon:       opts.Macaroon,
		RequestTimeout: opts.RequestTimeout,
		DialTimeout:    opts.DialTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("lnd: %w", err)
	}
	n := &Node{
		rest: c, opts: opts, db: opts.DB, clock: opts.Clock, log: opts.Logger,
		open:      map[lightning.Hash]time.Time{},
		pollers:   map[chan lightning.Hash]struct{}{},
		feeLogged: map[lightning.Hash]bool{},
	}
	n.opts.Macaroon = nil // the client holds it; keep no second copy around
	return n, nil
}

// Info returns the node's identity from GetInfo (cached after the first
// success: a node's key and network do not change). A node on another
// network than Options.Network is refused (ErrOtherNetwork), and so is
// every call that needs Info: nothing is created, paid or recorded on it.
func (n *Node) Info(ctx context.Context) (_ lightning.NodeInfo, err error) {
	defer n.safe(&err)
	n.mu.Lock()
	info := n.info
	n.mu.Unlock()
	if info.PubKey != "" {
		return info, nil
	}
	var r struct {
		IdentityPubkey string `json:"identity_pubkey"`
		Alias          string `json:"alias"`
		Chains         []struct {
			Chain   string `json:"chain"`
			Network string `json:"network"`
		} `json:"chains"`
	}
	if err := n.rest.Do(ctx, http.MethodGet, "/v1/getinfo", nil, &r); err != nil {
		return lightning.NodeInfo{}, n.wrap("getinfo", err)
	}
	// The key names this node in vaspd's payment records and in UMA's
	// payee data (nodePubKey): a compressed public key, 33 bytes in hex.
	if k, err := hex.DecodeString(r.IdentityPubkey); err != nil || len(k) != 33 || (k[0] != 2 && k[0] != 3) {
		return lightning.NodeInfo{}, fmt.Errorf("lnd getinfo: bad identity_pubkey %.70q", r.IdentityPubkey)
	}
	// lnd's alias is at most 32 bytes of UTF-8 (lnwire.NewNodeAlias):
	// anything else is not lnd's answer.
	if len(r.Alias) > maxAlias || !utf8.ValidString(r.Alias) {
		return lightning.NodeInfo{}, fmt.Errorf("lnd getinfo: alias %.40q is not lnd's (at most %d bytes of UTF-8)", r.Alias, maxAlias)
	}
	// lnd runs on one chain, bitcoin, and names its network as its
	// config does; vaspd names it by its invoices' prefix (networkOf).
	if len(r.Chains) != 1 || r.Chains[0].Chain != "bitcoin" {
		return lightning.NodeInfo{}, fmt.Errorf("lnd getinfo: want one chain, bitcoin; got %d chains", len(r.Chains))
	}
	network, ok := networkOf(r.Chains[0].Network)
	if !ok {
		return lightning.NodeInfo{}, fmt.Errorf("lnd getinfo: unknown network %.40q", r.Chains[0].Network)
	}
	if network != n.opts.Network {
		return lightning.NodeInfo{}, fmt.Errorf("%w: lnd is on %s, vaspd is configured for %s", ErrOtherNetwork, network, n.opts.Network)
	}
	// Pay never sets allow_self_payment: lnd refuses an invoice of its own
	// (sendRefusal: FailureNoRoute).
	info = lightning.NodeInfo{PubKey: r.IdentityPubkey, Network: network, Alias: r.Alias, PaysOwnInvoices: false}
	n.mu.Lock()
	n.info = info
	n.mu.Unlock()
	return info, nil
}

// maxAlias is the longest alias lnd gives a node, in bytes.
const maxAlias = 32

// networkOf maps the network lnd's GetInfo reports (lncfg.NormalizeNetwork
// of its chain parameters' name) onto vaspd's name for it: the network of
// its invoices (lightning/bolt11). Both testnets are testnet: their
// invoices share the prefix lntb and cannot be told apart.
func networkOf(lndNetwork string) (string, bool) {
	switch lndNetwork {
	case "mainnet":
		return bolt11.Mainnet, true
	case "testnet", "testnet3", "testnet4":
		return bolt11.Testnet, true
	case "signet":
		return bolt11.Signet, true
	case "regtest":
		return bolt11.Regtest, true
	case "simnet":
		return bolt11.Simnet, true
	}
	return "", false
}

// CreateInvoice adds an invoice (AddInvoice) and returns it as lnd stored
// it (LookupInvoice), so every field comes from the node; an invoice lnd
// stored other than asked (amount, description hash, expiry, not open),
// or whose payment request — what the payer pays — is not this node's for
// that invoice as asked (checkIssued), is an error, never handed out.
func (n *Node) CreateInvoice(ctx context.Context, req lightning.InvoiceRequest) (_ lightning.Invoice, err error) {
	defer n.safe(&err)
	if req.AmountMsat < 0 || req.AmountMsat > lightning.MaxAmountMsat {
		return lightning.Invoice{}, fmt.Errorf("lnd: invoice amount %d msat out of range", req.AmountMsat)
	}
	if req.Expiry < 0 || req.Expiry > lightning.MaxInvoiceExpiry {
		return lightning.Invoice{}, fmt.Errorf("lnd: invoice expiry %s out of range (0 to %s)", req.Expiry, lightning.MaxInvoiceExpiry)
	}
	if req.DescriptionHash.IsZero() {
		return lightning.Invoice{}, errors.New("lnd: invoice needs a description hash")
	}
	// Nothing is issued by a node on another network (ErrOtherNetwork);
	// the node's key and network are what the payment request is held to.
	info, err := n.Info(ctx)
	if err != nil {
		return lightning.Invoice{}, err
	}
	body := map[string]any{
		"value_msat":       strconv.FormatInt(req.AmountMsat, 10),
		"description_hash": base64.StdEncoding.EncodeToString(req.DescriptionHash[:]),
	}
	var secs int64 // 0: lnd's default
	if req.Expiry > 0 {
		secs = int64((req.Expiry + time.Second - 1) / time.Second) // BOLT11 expiry is whole seconds: round up
		body["expiry"] = strconv.FormatInt(secs, 10)
	}
	var r struct {
		RHash string `json:"r_hash"`
	}
	if err := n.rest.Do(ctx, http.MethodPost, "/v1/invoices", body, &r); err != nil {
		return lightning.Invoice{}, n.wrap("addinvoice", err)
	}
	hash, err := b64Hash("r_hash", r.RHash)
	if err != nil || hash.IsZero() {
		return lightning.Invoice{}, fmt.Errorf("lnd addinvoice: bad r_hash in answer")
	}
	inv, err := n.LookupInvoice(ctx, hash)
	if err != nil {
		return lightning.Invoice{}, err
	}
	// The invoice handed out must be the one asked for: the payer pays
	// its amount, and UMA's payer checks its description hash (LUD-18).
	if inv.AmountMsat != req.AmountMsat || inv.DescriptionHash != req.DescriptionHash || inv.State != lightning.InvoiceOpen {
		n.cancelRefused(ctx, hash)
		return lightning.Invoice{}, fmt.Errorf("lnd addinvoice: asked for an open invoice of %d msat for description hash %s, lnd has %s one of %d msat for %s",
			req.AmountMsat, req.DescriptionHash, inv.State, inv.AmountMsat, inv.DescriptionHash)
	}
	if err := checkIssued(inv, req, secs, info); err != nil {
		n.cancelRefused(ctx, hash)
		return lightning.Invoice{}, fmt.Errorf("lnd addinvoice: %w", err)
	}
	n.mu.Lock()
	n.open[hash] = inv.ExpiresAt
	n.mu.Unlock()
	return inv, nil
}

// LookupInvoice returns an invoice by payment hash. lnd's answer must be
// that invoice: one for another hash (a proxy's stale or misrouted answer)
// would have the caller book, expire or hand out the wrong invoice.
func (n *Node) LookupInvoice(ctx context.Context, paymentHash lightning.Hash) (_ lightning.Invoice, err error) {
	defer n.safe(&err)
	var w wireInvoice
	if err := n.rest.Do(ctx, http.MethodGet, "/v1/invoice/"+paymentHash.String(), nil, &w); err != nil {
		if rest.IsNotFound(err) {
			return lightning.Invoice{}, fmt.Errorf("lnd invoice %s: %w", paymentHash, lightning.ErrNotFound)
		}
		return lightning.Invoice{}, n.wrap("lookupinvoice", err)
	}
	inv, err := w.toInvoice()
	if err != nil {
		return lightning.Invoice{}, err
	}
	if inv.PaymentHash != paymentHash {
		return lightning.Invoice{}, fmt.Errorf("lnd lookupinvoice: asked for invoice %s, lnd answered with invoice %s", paymentHash, inv.PaymentHash)
	}
	return inv, nil
}

// UTXOs returns, for a zero hash, the node's active channels with their
// local balance; for a payment hash, the channels its successful HTLCs left
// through with the amount each carried. A channel point it would report
// that is not a txid:index outpoint as lnd writes it fails the call
// (channelPoint): the UTXOs go to counterparties.
func (n *Node) UTXOs(ctx context.Context, paymentHash lightning.Hash) (_ []lightning.UTXO, err error) {
	defer n.safe(&err)
	var lc struct {
		Channels []wireChannel `json:"channels"`
	}
	if err := n.rest.Do(ctx, http.MethodGet, "/v1/channels", nil, &lc); err != nil {
		return nil, n.wrap("listchannels", err)
	}
	if paymentHash.IsZero() {
		var out []lightning.UTXO
		for _, c := range lc.Channels {
			if !c.Active {
				continue
			}
			amt, err := satAmount("local_balance", c.LocalBalance)
			if err != nil {
				return nil, err
			}
			inbound, err := satAmount("remote_balance", c.RemoteBalance)
			if err != nil {
				return nil, err
			}
			point, err := channelPoint(c.ChannelPoint)
			if err != nil {
				return nil, err
			}
			out = append(out, lightning.UTXO{Outpoint: point, AmountMsat: amt, InboundMsat: inbound})
		}
		return out, nil
	}
	w, err := n.trackOnce(ctx, paymentHash)
	if rest.IsNotFound(err) {
		return nil, fmt.Errorf("lnd payment %s: %w", paymentHash, lightning.ErrNotFound)
	}
	if err != nil {
		return nil, n.wrap("track", err)
	}
	if w.PaymentHash != "" {
		// Another payment's HTLCs are not this one's UTXOs (UMA's
		// post-transaction callback reports them to the counterparty).
		if h, err := hexHash("payment_hash", w.PaymentHash); err != nil || h != paymentHash {
			return nil, fmt.Errorf("lnd track: asked for payment %s, lnd answered with payment %.64q", paymentHash, w.PaymentHash)
		}
	}
	points := map[string]string{}
	for _, c := range lc.Channels {
		points[c.ChanID] = c.ChannelPoint
	}
	byPoint := map[string]int64{}
	var order []string
	var total int64
	for _, h := range w.Htlcs {
		if h.Status != "SUCCEEDED" || len(h.Route.Hops) == 0 {
			continue
		}
		amt, err := msatAmount("total_amt_msat", h.Route.TotalAmtMsat)
		if err != nil {
			return nil, err
		}
		// Each within range, and together too: one payment never
		// carries more than there can be bitcoin, and the sums below
		// cannot overflow.
		if total += amt; total > lightning.MaxAmountMsat {
			return nil, fmt.Errorf("lnd: field total_amt_msat: the payment's HTLCs carry more than 21M BTC")
		}
		point, ok := points[h.Route.Hops[0].ChanID]
		if !ok {
			continue // channel since closed: its outpoint is no longer listed
		}
		if point, err = channelPoint(point); err != nil {
			return nil, err
		}
		if _, seen := byPoint[point]; !seen {
			order = append(order, point)
		}
		byPoint[point] += amt
	}
	out := make([]lightning.UTXO, 0, len(order))
	for _, p := range order {
		out = append(out, lightning.UTXO{Outpoint: p, AmountMsat: byPoint[p]})
	}
	return out, nil
}

// safe makes *err what an error of the backend may say: one line of
// bounded length without the macaroon (rest.Client.Safe). Every exported
// method's error goes through it: they quote lnd's answers, and wrap one
// error in another ("and track: …"), so the parts being bounded is not
// enough. errors.Is and errors.As see the error as it was.
func (n *Node) safe(err *error) { *err = n.rest.Safe(*err) }

// wrap classifies transport failures as ErrUnavailable (the caller may retry
// later), and so lnd's answers while it is not ready (notReady); a refused
// macaroon or certificate as ErrMacaroonRefused or ErrCertificateRefused.
// It leaves lnd's other answers as they are.
func (n *Node) wrap(op string, err error) error {
	switch {
	case rest.IsMacaroonRefused(err):
		return fmt.Errorf("lnd %s: %w: %w", op, ErrMacaroonRefused, err)
	case rest.IsCertificateRefused(err):
		// Unavailable too: to the caller, a node it cannot talk to.
		return fmt.Errorf("lnd %s: %w: %w: %w", op, lightning.ErrUnavailable, ErrCertificateRefused, err)
	}
	var le *rest.Error
	if errors.As(err, &le) {
		if le.Code == 14 || le.HTTPStatus == http.StatusServiceUnavailable || notReady(le) { // gRPC Unavailable: starting, syncing
			return fmt.Errorf("lnd %s: %w: %w", op, lightning.ErrUnavailable, err)
		}
		return fmt.Errorf("lnd %s: %w", op, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("lnd %s: %w: %w", op, lightning.ErrUnavailable, err)
	}
	return fmt.Errorf("lnd %s: %w", op, err)
}

// notReady reports an answer of lnd's RPC interceptor while lnd is not
// ready for calls: its wallet not created or locked (after a restart,
// until it is unlocked), its RPC server or server starting, or waiting to
// start (not yet the leader of a cluster). They come as plain errors, gRPC
// Unknown and HTTP 500, like lnd's verdicts on a call, but say nothing of
// the call: the node is unavailable for now.
func notReady(e *rest.Error) bool {
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "wallet locked") || strings.Contains(m, "wallet not created") ||
		strings.Contains(m, "in the process of starting") || strings.Contains(m, "waiting to start")
}
