package daemon

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// MinLNDTimeout is the least lnd-timeout: a REST call to lnd, over TLS,
// cannot be counted on to answer sooner.
const MinLNDTimeout = time.Second

// LightningConfig selects and configures the Lightning backend.
type LightningConfig struct {
	Backend string // "embedded" (default) or "lnd"

	// Network is the Lightning network vaspd runs on, with either
	// backend: the embedded node's, or the one lnd must be on.
	Network string

	// Embedded node. InitialBalanceMsat 0 is the default (1 BTC) in a
	// Config built in Go, as in embedded.Options; StartEmpty creates the
	// node with none. From the settings (Declare), whose default is 1 BTC,
	// a 0 can only be the user's own: Resolve takes it as StartEmpty.
	InitialBalanceMsat int64
	StartEmpty         bool
	FeeBaseMsat        int64
	FeePPM             int64
	DevnetSecret       string
	DevnetPeers        string // comma-separated

	// LND.
	LNDRESTURL      string
	LNDTLSCert      string
	LNDMacaroon     string
	LNDMaxFeeMsat   int64
	LNDTimeout      time.Duration
	devnetPeersList []string
	// declared: bound to the settings by declare, so that an
	// InitialBalanceMsat of 0 is one the user gave.
	declared bool
}

func (c *LightningConfig) declare(s *config.Set) {
	s.String(&c.Backend, "lightning", "embedded", "Lightning backend: embedded (a test-network node kept in the database) or lnd")
	s.String(&c.Network, "lightning-network", "regtest", "Lightning network vaspd runs on: regtest, testnet, signet or simnet; mainnet with lightning=lnd only (the embedded node refuses it). lnd must be on it: vaspd refuses to start on a node on another network")
	c.declared = true
	s.Int64(&c.InitialBalanceMsat, "lightning-initial-balance-msat", embedded.DefaultInitialBalanceMsat, "embedded node's opening balance in msats, credited once when the node is created (0: the node starts empty)")
	s.Int64(&c.FeeBaseMsat, "lightning-fee-base-msat", 0, "embedded node's routing fee per payment to another node, in msats")
	s.Int64(&c.FeePPM, "lightning-fee-ppm", 0, "embedded node's proportional routing fee, in millionths of the amount (0 to 1000000)")
	s.String(&c.DevnetSecret, "devnet-secret", "", "shared secret of the embedded nodes' devnet (empty disables paying other vaspd processes)").Secret = true
	s.String(&c.DevnetPeers, "devnet-peers", "", "comma-separated base URLs of other vaspd processes on the devnet, optionally PUBKEY@URL")
	s.String(&c.LNDRESTURL, "lnd-rest-url", "", "lnd REST URL, e.g. https://127.0.0.1:8080 (lightning=lnd)").Redact = config.RedactURL
	s.String(&c.LNDTLSCert, "lnd-tls-cert", "", "path to lnd's tls.cert; the connection is pinned to it (lightning=lnd)")
	s.String(&c.LNDMacaroon, "lnd-macaroon", "", "path to an lnd macaroon with invoice and offchain permissions (lightning=lnd)")
	s.Int64(&c.LNDMaxFeeMsat, "lnd-max-fee-msat", lnd.DefaultMaxFeeMsat, "default routing-fee limit of a payment through lnd, in msats (at least 1)")
	s.Duration(&c.LNDTimeout, "lnd-timeout", 30*time.Second, "timeout of one lnd REST call")
}

func (c *LightningConfig) resolve() error {
	// The zero value is the default: an embedded regtest node.
	if c.Backend == "" {
		c.Backend = "embedded"
	}
	if c.Network == "" {
		c.Network = "regtest"
	}
	if c.LNDTimeout <= 0 {
		c.LNDTimeout = 30 * time.Second
	}
	// A setting of the backend not selected is a mistake: lnd configured
	// but for lightning=lnd would run vaspd on the embedded test node.
	for _, other := range []struct {
		backend, name string
		set           bool
	}{
		{"lnd", "lnd-rest-url", c.LNDRESTURL != ""},
		{"lnd", "lnd-tls-cert", c.LNDTLSCert != ""},
		{"lnd", "lnd-macaroon", c.LNDMacaroon != ""},
		{"embedded", "devnet-secret", c.DevnetSecret != ""},
		{"embedded", "devnet-peers", strings.TrimSpace(c.DevnetPeers) != ""},
	} {
		if other.set && c.Backend != other.backend && (c.Backend == "embedded" || c.Backend == "lnd") {
			return fmt.Errorf("setting lightning: is %s, but %s (a setting of lightning=%s) is set: select %s or remove it",
				c.Backend, other.name, other.backend, other.backend)
		}
	}
	switch c.Backend {
	case "embedded":
		switch c.Network {
		case "regtest", "testnet", "signet", "simnet":
		default:
			return fmt.Errorf("setting lightning-network: want regtest, testnet, signet or simnet, got %s", config.QuoteValue(c.Network))
		}
		// embedded.Open's own bounds, checked here to name the setting
		// before the database is opened.
		if c.InitialBalanceMsat < 0 || c.InitialBalanceMsat > bolt11.MaxAmountMsat {
			return fmt.Errorf("setting lightning-initial-balance-msat: want 0 (an empty node) to %d (21 million BTC), got %d", int64(bolt11.MaxAmountMsat), c.InitialBalanceMsat)
		}
		// A user who writes 0 (flag, environment or file) wants a node
		// that starts empty, not embedded.Options' default of 1 BTC.
		if c.declared && c.InitialBalanceMsat == 0 {
			c.StartEmpty = true
		}
		if c.StartEmpty && c.InitialBalanceMsat != 0 {
			return fmt.Errorf("setting lightning-initial-balance-msat: %d, but the node is to start empty", c.InitialBalanceMsat)
		}
		if c.FeeBaseMsat < 0 || c.FeeBaseMsat > bolt11.MaxAmountMsat {
			return fmt.Errorf("setting lightning-fee-base-msat: want 0 to %d (21 million BTC), got %d", int64(bolt11.MaxAmountMsat), c.FeeBaseMsat)
		}
		if c.FeePPM < 0 || c.FeePPM > 1_000_000 {
			return fmt.Errorf("setting lightning-fee-ppm: want 0 to 1000000 (millionths of the amount), got %d", c.FeePPM)
		}
		c.devnetPeersList = nil
		for _, p := range strings.Split(c.DevnetPeers, ",") {
			if p = strings.TrimSpace(p); p != "" {
				u := p
				if i := strings.LastIndex(p, "@"); i >= 0 {
					u = p[i+1:]
					// The pinned key, checked here to name the setting
					// (embedded.Open checks it once the database is open).
					if k, err := hex.DecodeString(p[:i]); err != nil || len(k) != 33 {
						// Not echoed: before an '@' may be a URL's user:password.
						return fmt.Errorf("setting devnet-peers: want URL or PUBKEY@URL, PUBKEY a 33-byte compressed public key in hex")
					} else if _, err := secp256k1.ParsePubKey(k); err != nil {
						return fmt.Errorf("setting devnet-peers: %q is not a valid secp256k1 public key", p[:i])
					}
				}
				if _, err := config.ParseURL("devnet-peers", u, "http", "https"); err != nil {
					return err
				}
				// Another vaspd's base URL, the devnet's paths appended
				// to it: a query or fragment would swallow them.
				if err := uma.CheckBaseURL(u); err != nil {
					return fmt.Errorf("setting devnet-peers: a peer's URL %w", err)
				}
				c.devnetPeersList = append(c.devnetPeersList, p)
			}
		}
		if len(c.devnetPeersList) > 0 && c.DevnetSecret == "" {
			return fmt.Errorf("setting devnet-secret: required when devnet-peers is set")
		}
	case "lnd":
		// lnd's network must be this one (lnd.Options.Network), named
		// by its invoices' prefix as bolt11 names it: testnet is
		// either testnet (their invoices are alike).
		switch c.Network {
		case bolt11.Regtest, bolt11.Testnet, bolt11.Signet, bolt11.Simnet, bolt11.Mainnet:
		default:
			return fmt.Errorf("setting lightning-network: want mainnet, testnet, signet, regtest or simnet (lnd must be on it), got %s", config.QuoteValue(c.Network))
		}
		u, err := config.ParseURL("lnd-rest-url", c.LNDRESTURL, "https")
		if err != nil {
			return err
		}
		// vaspd appends /v1/… paths and authenticates with the macaroon:
		// a user or password (an '@' anywhere: one with a '/' in its
		// password parses as a path) would be sent as credentials lnd
		// ignores and shown wherever the URL is, a query or fragment
		// would follow every path appended. The value is not echoed.
		if u.User != nil || strings.Contains(c.LNDRESTURL, "@") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.LNDRESTURL, "#") {
			return fmt.Errorf("setting lnd-rest-url: want lnd's REST address as https://host:port[/path], without a user, password, query or fragment (lnd is authenticated by lnd-macaroon)")
		}
		if err := checkLNDFiles(c.LNDTLSCert, c.LNDMacaroon); err != nil {
			return err
		}
		// lnd.New takes 0 for its default (100000): an operator's 0, "no
		// routing fees", must not become that without a word.
		if c.LNDMaxFeeMsat <= 0 {
			return fmt.Errorf("setting lnd-max-fee-msat: want at least 1 msat, got %d", c.LNDMaxFeeMsat)
		}
		if c.LNDTimeout > math.MaxInt64-lnd.UnknownPaymentMargin {
			return fmt.Errorf("setting lnd-timeout: %s is too long", c.LNDTimeout)
		}
		// Shorter, and calls to lnd fail as timed out (the node
		// "unreachable") however well it is: nothing is paid or credited.
		if c.LNDTimeout < MinLNDTimeout {
			return fmt.Errorf("setting lnd-timeout: want 0 (the default, 30s) or at least %s, got %s", MinLNDTimeout, c.LNDTimeout)
		}
	default:
		return fmt.Errorf("setting lightning: want embedded or lnd, got %s", config.QuoteValue(c.Backend))
	}
	return nil
}

// checkLNDFiles reads lnd's certificate and macaroon as lnd.New will, so
// that a missing, unreadable or wrong file stops vaspd at once, naming its
// setting (lnd.New's errors come after the database is open and cannot
// tell the settings apart). The macaroon's contents are never reported.
func checkLNDFiles(certPath, macaroonPath string) error {
	if certPath == "" {
		return fmt.Errorf("setting lnd-tls-cert: required with lightning=lnd")
	}
	b, err := readSettingFile("lnd-tls-cert", certPath)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return fmt.Errorf("setting lnd-tls-cert: %s holds no PEM certificate (want lnd's tls.cert)", certPath)
	}
	if macaroonPath == "" {
		return fmt.Errorf("setting lnd-macaroon: required with lightning=lnd")
	}
	b, err = readSettingFile("lnd-macaroon", macaroonPath)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return fmt.Errorf("setting lnd-macaroon: %s is empty", macaroonPath)
	}
	return nil
}

// openLightning starts the configured backend. For the embedded node it
// also returns the devnet handler to mount on the HTTP server.
func openLightning(ctx context.Context, db *store.DB, c LightningConfig, base *slog.Logger) (lightning.Node, *embedded.Node, error) {
	log := base.With("component", "lightning")
	if c.Backend == "lnd" {
		n, err := lnd.New(lnd.Options{
			RESTURL:        c.LNDRESTURL,
			TLSCertPath:    c.LNDTLSCert,
			MacaroonPath:   c.LNDMacaroon,
			Network:        c.Network,
			DB:             db,
			MaxFeeMsat:     c.LNDMaxFeeMsat,
			RequestTimeout: c.LNDTimeout,
			Logger:         log,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("setting lnd-rest-url: %w", err)
		}
		ictx, cancel := context.WithTimeout(ctx, c.LNDTimeout)
		defer cancel()
		info, err := n.Info(ictx)
		if errors.Is(err, lnd.ErrOtherNetwork) {
			// A test vaspd on a node with real money, or the other way
			// round: vaspd does not start.
			return nil, nil, fmt.Errorf("setting lightning-network: %w (set lightning-network to lnd's network, or point lnd-rest-url at a node on %s)", err, c.Network)
		}
		switch {
		case errors.Is(err, lnd.ErrMacaroonRefused):
			// lnd was reached, and refused the credentials: the
			// setting at fault is the macaroon's, not the URL's.
			return nil, nil, fmt.Errorf("setting lnd-macaroon: lnd refuses the macaroon (bake one with the permissions in docs/lightning-lnd.md, on this node): %w", err)
		case errors.Is(err, lnd.ErrCertificateRefused):
			return nil, nil, fmt.Errorf("setting lnd-tls-cert: the server at lnd-rest-url does not present this certificate for its host (want that lnd's tls.cert): %w", err)
		case err != nil:
			return nil, nil, fmt.Errorf("setting lnd-rest-url: cannot reach lnd: %w", err)
		}
		if err := checkSameLND(ictx, db, info.PubKey); err != nil {
			return nil, nil, err
		}
		log.Info("lightning: lnd", "pubkey", info.PubKey, "network", info.Network, "alias", info.Alias)
		return n, nil, nil
	}
	n, err := embedded.Open(ctx, db, embedded.Options{
		Network:            c.Network,
		Alias:              "vaspd",
		InitialBalanceMsat: c.InitialBalanceMsat,
		StartEmpty:         c.StartEmpty,
		FeeBaseMsat:        c.FeeBaseMsat,
		FeePPM:             c.FeePPM,
		DevnetSecret:       c.DevnetSecret,
		DevnetPeers:        c.devnetPeersList,
		Logger:             base, // the node names its own component, lightning/embedded
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open the embedded Lightning node: %w", err)
	}
	log.Info("lightning: embedded node", "pubkey", n.PubKey(), "network", c.Network, "devnet", c.DevnetSecret != "")
	return n, n, nil
}

// checkSameLND refuses an lnd node other than the one payments recorded in
// flight were sent from (lnd.InFlightElsewhere): a switch of nodes, or
// processes on one database each with its own node, while payments are in
// flight would have them sent again from this node.
func checkSameLND(ctx context.Context, db *store.DB, self string) error {
	others, err := lnd.InFlightElsewhere(ctx, db, self)
	if err != nil {
		return err
	}
	if len(others) == 0 {
		return nil
	}
	var parts []string
	for _, node := range slices.Sorted(maps.Keys(others)) {
		parts = append(parts, fmt.Sprintf("%d payment(s) on %s", others[node], node))
	}
	return fmt.Errorf("setting lnd-rest-url: lnd there is node %s, but payments recorded in flight were sent from another node and have not ended (%s): "+
		"on this node they would be sent again. Point lnd-rest-url back at that node until they end (vaspd tracks them at start), then switch; "+
		"every vaspd process on one database must use the same lnd node (docs/lightning-lnd.md)", self, strings.Join(parts, ", "))
}

// resolveLND tracks payments lnd left in flight (e.g. across a crash of
// vaspd) to a final state: once at start, then every minute while some
// remain.
func resolveLND(ctx context.Context, n *lnd.Node, log *slog.Logger) error {
	for {
		left, err := n.ResolveInFlight(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("lightning: resolve payments in flight", "err", err)
		} else if left == 0 && err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Minute):
		}
	}
}
