package lnd

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// The JSON shapes of lnd's REST gateway (protojson with original field
// names): 64-bit integers are strings, bytes fields standard base64, except
// where lnd declares a hex string field (Payment.payment_hash,
// Payment.payment_preimage, PayReq.payment_hash, PayReq.description_hash).

type wireInvoice struct {
	RHash           string `json:"r_hash"`
	RPreimage       string `json:"r_preimage"`
	PaymentRequest  string `json:"payment_request"`
	Value           string `json:"value"` // value_msat in whole satoshis
	ValueMsat       string `json:"value_msat"`
	AmtPaidSat      string `json:"amt_paid_sat"`
	AmtPaidMsat     string `json:"amt_paid_msat"`
	DescriptionHash string `json:"description_hash"`
	CreationDate    string `json:"creation_date"`
	SettleDate      string `json:"settle_date"`
	Expiry          string `json:"expiry"`
	SettleIndex     string `json:"settle_index"`
	AddIndex        string `json:"add_index"`
	State           string `json:"state"`
}

type wirePayment struct {
	PaymentHash     string     `json:"payment_hash"`
	PaymentPreimage string     `json:"payment_preimage"`
	PaymentRequest  string     `json:"payment_request"`
	ValueSat        string     `json:"value_sat"`
	ValueMsat       string     `json:"value_msat"`
	FeeSat          string     `json:"fee_sat"`
	FeeMsat         string     `json:"fee_msat"`
	Status          string     `json:"status"`
	FailureReason   string     `json:"failure_reason"`
	CreationTimeNs  string     `json:"creation_time_ns"`
	Htlcs           []wireHTLC `json:"htlcs"`
}

type wireHTLC struct {
	Status        string `json:"status"`
	ResolveTimeNs string `json:"resolve_time_ns"`
	Route         struct {
		TotalAmtMsat string `json:"total_amt_msat"`
		Hops         []struct {
			ChanID string `json:"chan_id"`
		} `json:"hops"`
	} `json:"route"`
}

type wirePayReq struct {
	Destination string `json:"destination"`
	PaymentHash string `json:"payment_hash"`
	NumSatoshis string `json:"num_satoshis"`
	NumMsat     string `json:"num_msat"`
	Timestamp   string `json:"timestamp"`
	Expiry      string `json:"expiry"`
}

type wireChannel struct {
	Active        bool   `json:"active"`
	ChannelPoint  string `json:"channel_point"`
	ChanID        string `json:"chan_id"`
	LocalBalance  string `json:"local_balance"`
	RemoteBalance string `json:"remote_balance"`
}

// num parses one of lnd's stringified integers; "" is 0.
func num(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("lnd: field %s: bad integer %.40q", field, s)
	}
	return v, nil
}

// Every amount lnd reports is checked here, at the boundary, before it can
// reach the ledger: lnd is trusted to move money, not to count it (a bug, a
// compromised proxy or a hostile answer must not book an impossible
// amount). An amount outside 0..lightning.MaxAmountMsat, or one that
// disagrees with its satoshi twin where lnd sends both, makes the call
// fail with an error naming the field; it is never clamped (a clamped
// amount would be a wrong amount booked as a right one).

// msatAmount parses an amount in millisatoshi; "" is 0.
func msatAmount(field, s string) (int64, error) {
	v, err := num(field, s)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > lightning.MaxAmountMsat {
		return 0, fmt.Errorf("lnd: field %s: %d msat is out of range (0 to 21M BTC)", field, v)
	}
	return v, nil
}

// satAmount parses an amount in satoshi and returns it in millisatoshi;
// "" is 0.
func satAmount(field, s string) (int64, error) {
	v, err := num(field, s)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > lightning.MaxAmountMsat/1000 {
		return 0, fmt.Errorf("lnd: field %s: %d sat is out of range (0 to 21M BTC)", field, v)
	}
	return v * 1000, nil
}

// sameAmount checks that the satoshi field satField, when lnd sent it, is
// msats in whole satoshis (lnd truncates), as msatField says.
func sameAmount(satField, s, msatField string, msats int64) error {
	if s == "" {
		return nil
	}
	v, err := num(satField, s)
	if err != nil {
		return err
	}
	if v != msats/1000 {
		return fmt.Errorf("lnd: field %s: %d sat disagrees with %s %d msat", satField, v, msatField, msats)
	}
	return nil
}

func unum(field, s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("lnd: field %s: bad integer %.40q", field, s)
	}
	return v, nil
}

// channelPoint checks a channel point as lnd writes it (wire.OutPoint's
// String): the funding txid in 64 lowercase hex digits, ':', the output
// index in decimal, a uint32 without leading zeros. A channel point goes
// to counterparties as a UTXO (UMA's post-transaction callbacks): anything
// else is not lnd's answer, and is refused rather than sent, or left out
// of a list told as the whole one.
func channelPoint(s string) (string, error) {
	txid, index, ok := strings.Cut(s, ":")
	valid := ok && len(txid) == 64 && strings.Trim(txid, "0123456789abcdef") == "" &&
		index != "" && (index == "0" || index[0] != '0')
	if valid {
		_, err := strconv.ParseUint(index, 10, 32)
		valid = err == nil
	}
	if !valid {
		return "", fmt.Errorf("lnd: field channel_point: %.80q is not a txid:index outpoint", s)
	}
	return s, nil
}

// b64Hash decodes a base64 bytes field that must be empty or 32 bytes.
func b64Hash(field, s string) (lightning.Hash, error) {
	var h lightning.Hash
	if s == "" {
		return h, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || (len(b) != 0 && len(b) != 32) {
		return h, fmt.Errorf("lnd: field %s: not a base64 32-byte value", field)
	}
	copy(h[:], b)
	return h, nil
}

// hexHash decodes a hex string field that must be empty or 32 bytes.
func hexHash(field, s string) (lightning.Hash, error) {
	var h lightning.Hash
	if s == "" {
		return h, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("lnd: field %s: not a hex 32-byte value", field)
	}
	copy(h[:], b)
	return h, nil
}

func unixSeconds(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func unixNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// toInvoice converts lnd's Invoice message, rejecting malformed fields
// rather than guessing.
func (w *wireInvoice) toInvoice() (lightning.Invoice, error) {
	var inv lightning.Invoice
	var err error
	errs := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	inv.PaymentHash, e = b64Hash("r_hash", w.RHash)
	errs(e)
	if inv.PaymentHash.IsZero() {
		errs(fmt.Errorf("lnd: invoice without r_hash"))
	}
	inv.Preimage, e = b64Hash("r_preimage", w.RPreimage)
	errs(e)
	inv.DescriptionHash, e = b64Hash("description_hash", w.DescriptionHash)
	errs(e)
	inv.PaymentRequest = w.PaymentRequest
	inv.AmountMsat, e = msatAmount("value_msat", w.ValueMsat)
	errs(e)
	errs(sameAmount("value", w.Value, "value_msat", inv.AmountMsat))
	inv.AmountPaidMsat, e = msatAmount("amt_paid_msat", w.AmtPaidMsat)
	errs(e)
	errs(sameAmount("amt_paid_sat", w.AmtPaidSat, "amt_paid_msat", inv.AmountPaidMsat))
	if w.State == "SETTLED" && inv.AmountPaidMsat == 0 {
		// lnd settles an invoice only when HTLCs paid it: a settlement
		// of nothing is not one, and a caller that read 0 as "amount
		// not told" would book the invoice's amount.
		errs(fmt.Errorf("lnd: field amt_paid_msat: a settled invoice paid 0 msat"))
	}
	created, e := num("creation_date", w.CreationDate)
	errs(e)
	expiry, e := num("expiry", w.Expiry)
	errs(e)
	settled, e := num("settle_date", w.SettleDate)
	errs(e)
	inv.SettleIndex, e = unum("settle_index", w.SettleIndex)
	errs(e)
	if err != nil {
		return lightning.Invoice{}, err
	}
	inv.CreatedAt = unixSeconds(created)
	// A settled invoice is delivered whatever its expiry, so an expiry out
	// of range is bounded, not refused: above a year (the most vaspd asks
	// lnd for, lightning.MaxInvoiceExpiry) it is a year, where multiplying by
	// time.Second would wrap; below zero it is zero.
	expiry = min(max(expiry, 0), int64(lightning.MaxInvoiceExpiry/time.Second))
	inv.ExpiresAt = inv.CreatedAt.Add(time.Duration(expiry) * time.Second)
	switch w.State {
	case "SETTLED":
		inv.State = lightning.InvoiceSettled
		inv.SettledAt = unixSeconds(settled)
	case "CANCELED":
		inv.State = lightning.InvoiceCanceled
	default: // OPEN, and ACCEPTED (a held HTLC is not money yet)
		inv.State = lightning.InvoiceOpen
		inv.SettleIndex = 0
	}
	return inv, nil
}

// status maps lnd's Payment.status; INITIATED (no HTLC sent yet) is still
// in flight from the caller's point of view.
func paymentStatus(s string) (lightning.PaymentStatus, error) {
	switch s {
	case "SUCCEEDED":
		return lightning.StatusSucceeded, nil
	case "FAILED":
		return lightning.StatusFailed, nil
	case "IN_FLIGHT", "INITIATED", "UNKNOWN", "":
		return lightning.StatusInFlight, nil
	}
	return "", fmt.Errorf("lnd: unknown payment status %.40q", s)
}

// failureReason maps lnd's PaymentFailureReason names onto ours (lnd's
// without the FAILURE_REASON_ prefix).
func failureReason(s string) lightning.FailureReason {
	switch s {
	case "", "FAILURE_REASON_NONE":
		return lightning.FailureNone
	case "FAILURE_REASON_TIMEOUT":
		return lightning.FailureTimeout
	case "FAILURE_REASON_NO_ROUTE":
		return lightning.FailureNoRoute
	case "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS":
		return lightning.FailureIncorrectDetails
	case "FAILURE_REASON_INSUFFICIENT_BALANCE":
		return lightning.FailureInsufficientBalance
	case "FAILURE_REASON_CANCELED":
		return lightning.FailureCanceled
	default: // FAILURE_REASON_ERROR and anything newer
		return lightning.FailureError
	}
}
