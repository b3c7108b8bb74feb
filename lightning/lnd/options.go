package lnd

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// Options configure the LND backend. RESTURL, TLSCertPath (or TLSCertPEM),
// MacaroonPath (or Macaroon) and DB are required; everything else has a
// default.
type Options struct {
	// RESTURL is lnd's REST listener, e.g. "https://127.0.0.1:8080"
	// (lnd's --restlisten).
	RESTURL string

	// TLSCertPath is the node's tls.cert. It is the only certificate
	// trusted for the connection: neither the system roots nor any CA.
	// TLSCertPEM, if set, is used instead of reading the path.
	TLSCertPath string
	TLSCertPEM  []byte

	// MacaroonPath is a macaroon with exactly the permissions this backend
	// needs (bake it with `lncli bakemacaroon info:read invoices:read
	// invoices:write offchain:read offchain:write`); the admin macaroon
	// works but grants far more. Macaroon, if set, is used instead of
	// reading the path. It is sent hex-encoded in the
	// Grpc-Metadata-macaroon header and never logged.
	MacaroonPath string
	Macaroon     []byte

	// Network is the network vaspd expects the node on, as vaspd names
	// networks (by their invoices' prefix, lightning/bolt11): "mainnet",
	// "testnet", "signet", "regtest" or "simnet". Required.
	Network string

	// DB holds the outgoing payment records (migration 0150): each payment
	// is written as IN_FLIGHT before it is sent, so a restart finds it.
	DB *store.DB

	// MaxFeeMsat is both the routing-fee limit used when a PayRequest gives
	// none and the ceiling on any PayRequest.MaxFeeMsat. Default 100,000
	// msat (100 sat).
	MaxFeeMsat int64

	// RequestTimeout bounds every unary REST call (default 30 s);
	// DialTimeout bounds connecting and the TLS handshake (default 10 s).
	RequestTimeout time.Duration
	DialTimeout    time.Duration

	// PayTimeout is used when a PayRequest has no Timeout (default 60 s).
	PayTimeout time.Duration

	// PollInterval is how often SubscribeSettled looks up the open invoices
	// this process created, as a safety net against a stream that silently
	// missed a settlement (default 15 s).
	PollInterval time.Duration

	// ReconnectMax caps the back-off between stream reconnects (default 5 s).
	ReconnectMax time.Duration

	// UnknownPaymentGrace is how long a payment recorded as IN_FLIGHT may
	// stay unknown to lnd before TrackPayment concludes the send never
	// reached lnd and marks it FAILED. Handing a payment to lnd may take up
	// to RequestTimeout, so the grace must be at least RequestTimeout +
	// UnknownPaymentMargin (New refuses less): otherwise another process
	// could mark FAILED a send still on its way, which may then succeed —
	// paid, but booked failed. Default: 2 minutes, or RequestTimeout +
	// UnknownPaymentMargin if that is longer.
	UnknownPaymentGrace time.Duration

	Clock  vaspd.Clock  // default vaspd.SystemClock{}
	Logger *slog.Logger // default: discard
}

// DefaultMaxFeeMsat is the routing-fee limit when Options.MaxFeeMsat is 0.
const DefaultMaxFeeMsat = 100_000

// UnknownPaymentMargin is how much longer than RequestTimeout
// Options.UnknownPaymentGrace must be at least: time for the claim to
// commit, for lnd to register a send that reached it just as the request
// timed out, and for clock differences between processes.
const UnknownPaymentMargin = 30 * time.Second

func (o *Options) withDefaults() error {
	if o.RESTURL == "" {
		return errors.New("lnd: RESTURL is required")
	}
	if o.DB == nil {
		return errors.New("lnd: DB is required (outgoing payments are persisted before they are sent)")
	}
	if _, err := bolt11.Params(o.Network); err != nil {
		return fmt.Errorf("lnd: Network %.40q: want mainnet, testnet, signet, regtest or simnet (the node is refused on any other)", o.Network)
	}
	if len(o.TLSCertPEM) == 0 {
		if o.TLSCertPath == "" {
			return errors.New("lnd: TLSCertPath is required")
		}
		b, err := os.ReadFile(o.TLSCertPath)
		if err != nil {
			return fmt.Errorf("lnd: read TLS certificate: %w", err)
		}
		o.TLSCertPEM = b
	}
	if len(o.Macaroon) == 0 {
		if o.MacaroonPath == "" {
			return errors.New("lnd: MacaroonPath is required")
		}
		b, err := os.ReadFile(o.MacaroonPath)
		if err != nil {
			// The path is fine to report; the contents never are.
			return fmt.Errorf("lnd: read macaroon: %w", err)
		}
		o.Macaroon = b
	}
	if o.MaxFeeMsat < 0 {
		return fmt.Errorf("lnd: MaxFeeMsat %d is negative", o.MaxFeeMsat)
	}
	if o.MaxFeeMsat == 0 {
		o.MaxFeeMsat = DefaultMaxFeeMsat
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.RequestTimeout, 30*time.Second)
	def(&o.DialTimeout, 10*time.Second)
	def(&o.PayTimeout, 60*time.Second)
	def(&o.PollInterval, 15*time.Second)
	def(&o.ReconnectMax, 5*time.Second)
	if o.RequestTimeout > math.MaxInt64-UnknownPaymentMargin {
		return fmt.Errorf("lnd: RequestTimeout %s out of range", o.RequestTimeout)
	}
	minGrace := o.RequestTimeout + UnknownPaymentMargin
	switch {
	case o.UnknownPaymentGrace <= 0:
		o.UnknownPaymentGrace = max(2*time.Minute, minGrace)
	case o.UnknownPaymentGrace < minGrace:
		return fmt.Errorf("lnd: UnknownPaymentGrace %s must be at least RequestTimeout %s + %s: "+
			"a payment still being handed to lnd could be marked failed", o.UnknownPaymentGrace, o.RequestTimeout, UnknownPaymentMargin)
	}
	if o.Clock == nil {
		o.Clock = vaspd.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
