package lnd

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd/internal/rest"
	"github.com/vaspd/vaspd/store"
)

// TrackPayment returns an outgoing payment's current state. A final state in
// the database is returned as is; an in-flight one is refreshed from lnd
// (TrackPaymentV2) and stored when final. A payment recorded as in flight
// that lnd has never heard of after UnknownPaymentGrace was never sent (the
// process died between recording and sending): it is marked FAILED, so it
// may safely be paid again.
func (n *Node) TrackPayment(ctx context.Context, paymentHash lightning.Hash) (_ lightning.Payment, err error) {
	defer n.safe(&err)
	info, err := n.Info(ctx)
	if err != nil {
		return lightning.Payment{}, err
	}
	rec, err := getRecord(ctx, n.db, info.PubKey, paymentHash)
	found := err == nil
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return lightning.Payment{}, err
	case found && rec.Status != lightning.StatusInFlight:
		return rec.Payment, nil
	}
	var w wirePayment
	if found {
		w, err = n.trackAttempt(ctx, rec, false)
	} else {
		w, err = n.trackOnce(ctx, paymentHash)
	}
	switch {
	case err == nil:
		if !found {
			rec = record{Payment: lightning.Payment{PaymentHash: paymentHash}}
		}
		p, err := n.convert(rec, w)
		if err != nil {
			return lightning.Payment{}, err
		}
		if found {
			if err := n.resolve(ctx, info.PubKey, p); err != nil {
				return p, err
			}
		}
		return p, nil
	case !rest.IsNotFound(err):
		return lightning.Payment{}, n.wrap("track", err)
	case !found:
		return lightning.Payment{}, fmt.Errorf("lnd payment %s: %w", paymentHash, lightning.ErrNotFound)
	case n.clock.Now().Sub(rec.AttemptedAt) < n.opts.UnknownPaymentGrace:
		return rec.Payment, nil // just recorded; the send may still be on its way
	}
	n.log.Warn("lnd: payment recorded as in flight is unknown to lnd; marking failed",
		"payment_hash", paymentHash.String(), "attempted_at", rec.AttemptedAt)
	rec.Status, rec.FailureReason = lightning.StatusFailed, lightning.FailureError
	if err := n.resolve(ctx, info.PubKey, rec.Payment); err != nil {
		return rec.Payment, err
	}
	return n.TrackPayment(ctx, paymentHash)
}

// ResolveInFlight tracks every payment recorded as in flight — call it once
// at start-up so payments interrupted by a restart reach their final state
// in the database. It returns how many are still in flight.
func (n *Node) ResolveInFlight(ctx context.Context) (stillInFlight int, err error) {
	defer n.safe(&err)
	info, err := n.Info(ctx)
	if err != nil {
		return 0, err
	}
	hashes, err := inFlightHashes(ctx, n.db, info.PubKey)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, h := range hashes {
		p, err := n.TrackPayment(ctx, h)
		if err != nil {
			errs = append(errs, err)
			stillInFlight++
			continue
		}
		if p.Status == lightning.StatusInFlight {
			stillInFlight++
		}
	}
	return stillInFlight, errors.Join(errs...)
}

// trackOnce asks lnd for a payment's current state: the first message of
// TrackPaymentV2 (with in-flight updates on, so it answers at once).
func (n *Node) trackOnce(ctx context.Context, hash lightning.Hash) (wirePayment, error) {
	ctx, cancel := context.WithTimeout(ctx, n.opts.RequestTimeout)
	defer cancel()
	var out *wirePayment
	err := n.rest.Stream(ctx, http.MethodGet, trackPath(hash, false), nil, func(raw json.RawMessage) (bool, error) {
		var w wirePayment
		if err := json.Unmarshal(raw, &w); err != nil {
			return true, fmt.Errorf("lnd track: decode payment: %w", err)
		}
		out = &w
		return true, nil
	})
	if out != nil {
		return *out, nil
	}
	var le *rest.Error
	if errors.As(err, &le) && strings.Contains(le.Message, "isn't initiated") {
		le.Code = rest.CodeNotFound // older lnd answers Unknown for this
	}
	return wirePayment{}, err
}

// trackAttempt is trackOnce for the attempt rec records, which lnd has
// registered if acked (SendPaymentV2's first message came).
//
// lnd keeps one payment per hash: a retry of a FAILED payment replaces the
// earlier attempt when lnd registers it (InitPayment), and until then
// TrackPaymentV2 answers with the earlier attempt, FAILED. That answer
// says nothing of the retry, which may be on its way to lnd and be paid:
// booked as the retry's result it would be a payment made but recorded
// failed, its money released. So for a retry not known to be registered,
// a FAILED answer within UnknownPaymentGrace of the attempt is lnd not
// knowing it yet (NotFound), as for a first attempt; after the grace the
// retry cannot still be on its way, and FAILED, with lnd's reason, is its
// result.
func (n *Node) trackAttempt(ctx context.Context, rec record, acked bool) (wirePayment, error) {
	w, err := n.trackOnce(ctx, rec.PaymentHash)
	if err == nil && !acked && rec.Attempts > 1 && w.Status == "FAILED" &&
		n.clock.Now().Sub(rec.AttemptedAt) < n.opts.UnknownPaymentGrace {
		return wirePayment{}, &rest.Error{Code: rest.CodeNotFound, Path: "track",
			Message: "lnd shows the payment's earlier attempt, FAILED, not yet this retry"}
	}
	return w, err
}

func trackPath(hash lightning.Hash, noInflight bool) string {
	return "/v2/router/track/" + base64.URLEncoding.EncodeToString(hash[:]) +
		"?no_inflight_updates=" + strconv.FormatBool(noInflight)
}
