// Package bolt11 encodes and decodes BOLT11 payment requests for vaspd's
// Lightning backends. It is a thin, defensive layer over lnd's zpay32: the
// network is named by a string ("regtest", "testnet", "signet", "simnet",
// "mainnet"), results use lightning.Hash, errors wrap the lightning package's
// sentinels (ErrInvalidInvoice, ErrWrongNetwork), and values zpay32 accepts
// but a payment system must not (amounts that overflow, absurd expiries) are
// rejected.
package bolt11

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/zpay32"

	"github.com/vaspd/vaspd/lightning"
)

// Network names, as lightning.NodeInfo reports them.
const (
	Regtest = "regtest"
	Testnet = "testnet"
	Signet  = "signet"
	Simnet  = "simnet"
	Mainnet = "mainnet"
)

// MaxAmountMsat is 21 million bitcoin in millisatoshi: no invoice may ask for
// more, and no int64 arithmetic on amounts below it can overflow.
const MaxAmountMsat = lightning.MaxAmountMsat

// MaxExpiry bounds the expiry an invoice may carry: a year, what every
// backend allows (lightning.MaxInvoiceExpiry). BOLT11 allows any 64-bit
// number of seconds, which overflows time.Duration.
const MaxExpiry = lightning.MaxInvoiceExpiry

// MaxLength is the longest payment request accepted (zpay32's limit).
const MaxLength = 7089

// DefaultExpiry is what BOLT11 implies when an invoice has no 'x' field.
const DefaultExpiry = time.Hour

// Invoice is a decoded BOLT11 payment request.
type Invoice struct {
	Network            string
	PaymentHash        lightning.Hash
	AmountMsat         int64  // 0: the payer chooses the amount
	Destination        string // payee pubkey, 33-byte compressed, hex
	Description        string
	DescriptionHash    lightning.Hash // zero when the invoice has a plain description
	PaymentAddr        lightning.Hash // payment secret ('s'); zero when absent
	Timestamp          time.Time
	Expiry             time.Duration
	MinFinalCLTVExpiry uint64
	Features           []int // feature bits set, ascending
}

// ExpiresAt is Timestamp + Expiry.
func (inv Invoice) ExpiresAt() time.Time { return inv.Timestamp.Add(inv.Expiry) }

// Expired reports whether the invoice has expired at now.
func (inv Invoice) Expired(now time.Time) bool { return !now.Before(inv.ExpiresAt()) }

// Params returns the chain parameters for a network name.
func Params(network string) (*chaincfg.Params, error) {
	switch network {
	case Regtest:
		return &chaincfg.RegressionNetParams, nil
	case Testnet:
		return &chaincfg.TestNet3Params, nil
	case Signet:
		return &chaincfg.SigNetParams, nil
	case Simnet:
		return &chaincfg.SimNetParams, nil
	case Mainnet:
		return &chaincfg.MainNetParams, nil
	}
	return nil, fmt.Errorf("bolt11: unknown network %q", network)
}

// Prefix is the human-readable prefix of invoices on network ("lnbcrt" for
// regtest).
func Prefix(network string) string {
	switch network {
	case Regtest:
		return "lnbcrt"
	case Testnet:
		return "lntb"
	case Signet:
		return "lntbs"
	case Simnet:
		return "lnsb"
	case Mainnet:
		return "lnbc"
	}
	return ""
}

// NetworkOf reads the network from a payment request's prefix without
// checking anything else. Longer prefixes are tried first: "lnbcrt" is
// regtest although it starts with mainnet's "lnbc".
func NetworkOf(s string) (string, error) {
	s = lightning.NormalizeInvoice(s) // lower case (bech32 may be all upper case), no "lightning:" scheme
	for _, n := range []string{Regtest, Signet, Testnet, Simnet, Mainnet} {
		if strings.HasPrefix(s, Prefix(n)) {
			return n, nil
		}
	}
	return "", fmt.Errorf("%w: unknown prefix", lightning.ErrInvalidInvoice)
}

// Decode parses and verifies a payment request for network: bech32 checksum,
// network prefix, signature (the payee key is recovered from it or checked
// against the 'n' field) and field sanity. network "" accepts any network
// and reports it in Invoice.Network. It does not check expiry; see
// Invoice.Expired.
func Decode(s string, network string) (Invoice, error) {
	if len(s) > MaxLength+len("lightning:")+2 {
		return Invoice{}, fmt.Errorf("%w: too long", lightning.ErrInvalidInvoice)
	}
	s = lightning.NormalizeInvoice(s) // lower case (bech32 may be all upper case), no "lightning:" scheme
	got, err := NetworkOf(s)
	if err != nil {
		return Invoice{}, err
	}
	if network != "" && got != network {
		return Invoice{}, fmt.Errorf("%w: invoice is for %s, node is on %s", lightning.ErrWrongNetwork, got, network)
	}
	params, err := Params(got)
	if err != nil {
		return Invoice{}, err
	}
	zi, err := zpay32.Decode(s, params)
	if err != nil {
		return Invoice{}, fmt.Errorf("%w: %v", lightning.ErrInvalidInvoice, err)
	}
	return fromZpay(s, got, zi)
}

func fromZpay(s, network string, zi *zpay32.Invoice) (Invoice, error) {
	inv := Invoice{Network: network, Timestamp: zi.Timestamp.UTC()}
	if zi.PaymentHash == nil || zi.Destination == nil {
		return Invoice{}, fmt.Errorf("%w: missing payment hash or payee", lightning.ErrInvalidInvoice)
	}
	inv.PaymentHash = *zi.PaymentHash
	inv.Destination = hex.EncodeToString(zi.Destination.SerializeCompressed())

	// zpay32 multiplies whole-bitcoin amounts without an overflow check, so
	// a huge amount can wrap to a small one: parse the amount again here.
	hrpAmount, err := amountFromHRP(s, network)
	if err != nil {
		return Invoice{}, err
	}
	if zi.MilliSat != nil {
		if uint64(*zi.MilliSat) != uint64(hrpAmount) {
			return Invoice{}, fmt.Errorf("%w: amount out of range", lightning.ErrInvalidInvoice)
		}
		if hrpAmount == 0 {
			// "0" amounts are an odd way to say "any amount"; refuse rather
			// than guess.
			return Invoice{}, fmt.Errorf("%w: zero amount", lightning.ErrInvalidInvoice)
		}
		inv.AmountMsat = hrpAmount
	}
	if zi.Description != nil {
		inv.Description = *zi.Description
	}
	if zi.DescriptionHash != nil {
		inv.DescriptionHash = *zi.DescriptionHash
	}
	inv.PaymentAddr = zi.PaymentAddr.UnwrapOr([32]byte{})
	// zpay32 multiplies the 'x' seconds by time.Second without an overflow
	// check, so 2^55+3600 s decodes as an hour: bound the raw value first.
	secs, err := expirySeconds(s)
	if err != nil {
		return Invoice{}, err
	}
	inv.Expiry = zi.Expiry()
	if secs > uint64(MaxExpiry/time.Second) || inv.Expiry <= 0 || inv.Expiry > MaxExpiry {
		return Invoice{}, fmt.Errorf("%w: expiry out of range", lightning.ErrInvalidInvoice)
	}
	inv.MinFinalCLTVExpiry = zi.MinFinalCLTVExpiry()
	if zi.Features != nil {
		for bit := range zi.Features.Features() {
			inv.Features = append(inv.Features, int(bit))
		}
		sortInts(inv.Features)
	}
	return inv, nil
}

// amountFromHRP parses the amount in a payment request's human-readable part
// with overflow checks. 0 means no amount.
func amountFromHRP(s, network string) (int64, error) {
	sep := strings.LastIndexByte(s, '1')
	if sep < 0 {
		return 0, fmt.Errorf("%w: no separator", lightning.ErrInvalidInvoice)
	}
	amt := s[len(Prefix(network)):sep]
	if amt == "" {
		return 0, nil
	}
	bad := fmt.Errorf("%w: bad amount %q", lightning.ErrInvalidInvoice, amt)
	// Millisatoshi per unit; 0 marks pico-bitcoin, a tenth of a millisatoshi.
	mult := uint64(100_000_000_000)
	unit := amt[len(amt)-1]
	switch unit {
	case 'm':
		mult = 100_000_000
	case 'u':
		mult = 100_000
	case 'n':
		mult = 100
	case 'p':
		mult = 0
	default:
		if unit < '0' || unit > '9' {
			return 0, bad
		}
	}
	if unit < '0' || unit > '9' {
		amt = amt[:len(amt)-1]
	}
	// 19 digits always fit in a uint64; anything longer is out of range.
	if amt == "" || len(amt) > 19 {
		return 0, bad
	}
	var n uint64
	for i := 0; i < len(amt); i++ {
		c := amt[i]
		if c < '0' || c > '9' {
			return 0, bad
		}
		n = n*10 + uint64(c-'0')
	}
	var msat uint64
	if mult == 0 {
		if n%10 != 0 {
			return 0, bad // sub-millisatoshi amount
		}
		msat = n / 10
	} else {
		hi, lo := bits.Mul64(n, mult)
		if hi != 0 {
			return 0, bad
		}
		msat = lo
	}
	if msat > MaxAmountMsat {
		return 0, bad
	}
	return int64(msat), nil
}

// bech32Charset maps 5-bit values to the characters of a bech32 string.
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// Lengths in 5-bit groups of a payment request's timestamp, signature and
// checksum (BOLT11), and the 'x' (expiry) field type.
const (
	timestampGroups = 7
	signatureGroups = 104
	checksumGroups  = 6
	fieldTypeX      = 6
)

// expirySeconds reads the expiry in seconds from the first 'x' field of s, a
// payment request zpay32 has decoded (lower case, checksum verified), as
// zpay32 reads it but with overflow checks. 0 means there is no 'x' field.
//
// It is hand-rolled because zpay32 cannot tell an absurd expiry from a
// sane one: it keeps the field only as a time.Duration, multiplied by
// time.Second without an overflow check (parseExpiry; 2^55+3600 s comes
// out as an hour), and exposes neither the raw value nor its tagged
// fields. btcutil's bech32 decoder would only replace the character
// lookup below, not the walk over the tagged fields, at the cost of a
// second checksum pass.
func expirySeconds(s string) (uint64, error) {
	bad := fmt.Errorf("%w: malformed tagged fields", lightning.ErrInvalidInvoice)
	sep := strings.LastIndexByte(s, '1')
	if sep < 0 || len(s)-sep-1 < timestampGroups+signatureGroups+checksumGroups {
		return 0, bad
	}
	fields := s[sep+1+timestampGroups : len(s)-checksumGroups-signatureGroups]
	if strings.Trim(fields, bech32Charset) != "" {
		return 0, bad
	}
	group := func(i int) uint64 { return uint64(strings.IndexByte(bech32Charset, fields[i])) }
	for i := 0; i+3 <= len(fields); {
		typ, n := group(i), int(group(i+1)<<5|group(i+2))
		i += 3
		if i+n > len(fields) {
			return 0, bad
		}
		if typ != fieldTypeX {
			i += n
			continue
		}
		var secs uint64
		for j := i; j < i+n; j++ {
			if secs > math.MaxUint64>>5 {
				return 0, fmt.Errorf("%w: expiry out of range", lightning.ErrInvalidInvoice)
			}
			secs = secs<<5 | group(j)
		}
		return secs, nil
	}
	return 0, nil
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// Request describes an invoice to encode.
type Request struct {
	Network            string // not "" ; Encode does not refuse mainnet, callers decide
	PaymentHash        lightning.Hash
	PaymentAddr        lightning.Hash // payment secret; required (lnd sets it on every invoice)
	AmountMsat         int64          // 0: any amount
	DescriptionHash    lightning.Hash // used when Description is ""
	Description        string
	Timestamp          time.Time // second precision
	Expiry             time.Duration
	MinFinalCLTVExpiry uint64 // 0: DefaultMinFinalCLTVExpiry
}

// DefaultMinFinalCLTVExpiry is lnd's default final CLTV delta.
const DefaultMinFinalCLTVExpiry = 80

// InvoiceFeatures are the feature bits lnd puts on its invoices:
// var_onion_optin (required), payment_secret (required), basic_mpp (optional).
var InvoiceFeatures = []int{int(lnwire.TLVOnionPayloadRequired), int(lnwire.PaymentAddrRequired), int(lnwire.MPPOptional)}

// Encode builds a payment request and signs it with key, the payee's node
// key. The signature is a recoverable ECDSA signature over
// sha256(hrp || data), as BOLT11 specifies, so decoders learn the payee from
// it; no 'n' field is written (lnd omits it too).
func Encode(r Request, key *secp256k1.PrivateKey) (string, error) {
	if key == nil {
		return "", errors.New("bolt11: no signing key")
	}
	params, err := Params(r.Network)
	if err != nil {
		return "", err
	}
	if r.AmountMsat < 0 || r.AmountMsat > MaxAmountMsat {
		return "", fmt.Errorf("bolt11: amount %d msat out of range", r.AmountMsat)
	}
	if r.Expiry < time.Second || r.Expiry > MaxExpiry || r.Expiry%time.Second != 0 {
		return "", fmt.Errorf("bolt11: expiry %s must be whole seconds between 1s and %s", r.Expiry, MaxExpiry)
	}
	if r.PaymentAddr.IsZero() {
		return "", errors.New("bolt11: payment secret required")
	}
	cltv := r.MinFinalCLTVExpiry
	if cltv == 0 {
		cltv = DefaultMinFinalCLTVExpiry
	}
	raw := lnwire.NewRawFeatureVector()
	for _, b := range InvoiceFeatures {
		raw.Set(lnwire.FeatureBit(b))
	}
	opts := []func(*zpay32.Invoice){
		zpay32.Expiry(r.Expiry),
		zpay32.CLTVExpiry(cltv),
		zpay32.PaymentAddr(r.PaymentAddr),
		zpay32.Features(lnwire.NewFeatureVector(raw, lnwire.Features)),
	}
	if r.Description != "" {
		opts = append(opts, zpay32.Description(r.Description))
	} else {
		opts = append(opts, zpay32.DescriptionHash(r.DescriptionHash))
	}
	if r.AmountMsat > 0 {
		opts = append(opts, zpay32.Amount(lnwire.MilliSatoshi(r.AmountMsat)))
	}
	zi, err := zpay32.NewInvoice(params, r.PaymentHash, r.Timestamp, opts...)
	if err != nil {
		return "", fmt.Errorf("bolt11: %w", err)
	}
	return zi.Encode(zpay32.MessageSigner{SignCompact: func(msg []byte) ([]byte, error) {
		return signCompact(key, msg), nil
	}})
}
