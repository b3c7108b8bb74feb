package lnd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
)

// record is one row of lnd_payments.
type record struct {
	lightning.Payment
	MaxFeeMsat  int64
	Attempts    int64
	AttemptedAt time.Time
}

const recordColumns = `payment_hash, payment_request, destination, amount_msat, max_fee_msat, fee_msat,
	status, preimage, failure_reason, attempts, created_at, attempted_at, resolved_at`

func scanRecord(row interface{ Scan(...any) error }) (record, error) {
	var r record
	var hash, preimage, status, reason string
	var created, attempted int64
	var resolved sql.NullInt64
	if err := row.Scan(&hash, &r.PaymentRequest, &r.Destination, &r.AmountMsat, &r.MaxFeeMsat, &r.FeeMsat,
		&status, &preimage, &reason, &r.Attempts, &created, &attempted, &resolved); err != nil {
		return record{}, err
	}
	var err error
	if r.PaymentHash, err = hexHash("payment_hash", hash); err != nil {
		return record{}, err
	}
	if r.Preimage, err = hexHash("preimage", preimage); err != nil {
		return record{}, err
	}
	r.Status = lightning.PaymentStatus(status)
	r.FailureReason = lightning.FailureReason(reason)
	r.CreatedAt = store.Time(created)
	r.AttemptedAt = store.Time(attempted)
	if resolved.Valid {
		r.ResolvedAt = store.Time(resolved.Int64)
	}
	return r, nil
}

// getRecord reads a payment record; store.ErrNotFound if there is none.
func getRecord(ctx context.Context, q store.Querier, node string, hash lightning.Hash) (record, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM lnd_payments
		WHERE node_pubkey = $1 AND payment_hash = $2`, node, hash.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return record{}, store.ErrNotFound
	}
	if err != nil {
		return record{}, fmt.Errorf("lnd: read payment record: %w", err)
	}
	return r, nil
}

// claim records that this process is about to send the payment. It returns
// claimed=false and the existing record when the payment is already in
// flight or succeeded (by this or another process): the caller must not
// send. A FAILED record is claimed again for a new attempt, which sends the
// recorded payment request: a record for another invoice with the same
// hash is an error (errOtherInvoice), whatever its state.
func (n *Node) claim(ctx context.Context, node string, p lightning.Payment, maxFee int64) (rec record, claimed bool, err error) {
	now := n.clock.Now()
	err = n.db.InTx(ctx, func(tx *store.Tx) error {
		existing, err := getRecord(ctx, tx, node, p.PaymentHash)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = tx.ExecContext(ctx, `INSERT INTO lnd_payments (node_pubkey, `+recordColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, 0, $7, '', '', 1, $8, $8, NULL)`,
				node, p.PaymentHash.String(), p.PaymentRequest, p.Destination, p.AmountMsat, maxFee,
				string(lightning.StatusInFlight), store.Micros(now))
			if err != nil {
				if tx.Driver().IsUniqueViolation(err) {
					return errRace
				}
				return err
			}
			rec = record{Payment: p, MaxFeeMsat: maxFee, Attempts: 1, AttemptedAt: now}
			rec.Status, rec.CreatedAt = lightning.StatusInFlight, now
			claimed = true
			return nil
		case err != nil:
			return err
		case !lightning.SameInvoice(existing.PaymentRequest, p.PaymentRequest):
			return errOtherInvoice(p.PaymentHash)
		case existing.Status != lightning.StatusFailed:
			rec = existing
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE lnd_payments SET status = $1, failure_reason = '', fee_msat = 0,
			resolved_at = NULL, attempts = attempts + 1, attempted_at = $2, amount_msat = $3, max_fee_msat = $4
			WHERE node_pubkey = $5 AND payment_hash = $6 AND status = $7`,
			string(lightning.StatusInFlight), store.Micros(now), p.AmountMsat, maxFee,
			node, p.PaymentHash.String(), string(lightning.StatusFailed))
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return errRace
		}
		rec = existing
		rec.Status, rec.FailureReason, rec.FeeMsat, rec.ResolvedAt = lightning.StatusInFlight, lightning.FailureNone, 0, time.Time{}
		rec.AmountMsat, rec.MaxFeeMsat, rec.Attempts, rec.AttemptedAt = p.AmountMsat, maxFee, existing.Attempts+1, now
		claimed = true
		return nil
	})
	if errors.Is(err, errRace) {
		// Another process claimed it between our read and write: theirs
		// wins, if it is for the same invoice.
		rec, err = getRecord(ctx, n.db, node, p.PaymentHash)
		if err == nil && !lightning.SameInvoice(rec.PaymentRequest, p.PaymentRequest) {
			return record{}, false, errOtherInvoice(p.PaymentHash)
		}
		return rec, false, err
	}
	if errors.Is(err, lightning.ErrInvalidInvoice) {
		return record{}, false, err
	}
	if err != nil {
		return record{}, false, fmt.Errorf("lnd: record payment: %w", err)
	}
	return rec, claimed, nil
}

var errRace = errors.New("payment record changed concurrently")

// errOtherInvoice: the payment hash is recorded with a different invoice
// (see lightning.SameInvoice). Nothing is recorded or sent.
func errOtherInvoice(hash lightning.Hash) error {
	return fmt.Errorf("lnd pay: payment hash %s is recorded for another invoice: %w", hash, lightning.ErrInvalidInvoice)
}

// resolve stores a final state, once: a record already final is left alone
// (lnd never changes a final payment; a second writer saw the same result).
func (n *Node) resolve(ctx context.Context, node string, p lightning.Payment) error {
	if p.Status == lightning.StatusInFlight {
		return nil
	}
	resolved := p.ResolvedAt
	if resolved.IsZero() {
		resolved = n.clock.Now()
	}
	preimage := ""
	if !p.Preimage.IsZero() {
		preimage = p.Preimage.String()
	}
	_, err := n.db.ExecContext(ctx, `UPDATE lnd_payments SET status = $1, fee_msat = $2, preimage = $3,
		failure_reason = $4, resolved_at = $5
		WHERE node_pubkey = $6 AND payment_hash = $7 AND status = $8`,
		string(p.Status), p.FeeMsat, preimage, string(p.FailureReason), store.Micros(resolved),
		node, p.PaymentHash.String(), string(lightning.StatusInFlight))
	if err != nil {
		return fmt.Errorf("lnd: store payment result: %w", err)
	}
	return nil
}

// unclaim undoes a claim lnd refused before sending anything: a first
// attempt's record is removed, a retry's goes back to FAILED with the
// refusal's reason.
func (n *Node) unclaim(ctx context.Context, node string, rec record) error {
	var err error
	if rec.Attempts <= 1 {
		_, err = n.db.ExecContext(ctx, `DELETE FROM lnd_payments
			WHERE node_pubkey = $1 AND payment_hash = $2 AND status = $3 AND attempts = 1`,
			node, rec.PaymentHash.String(), string(lightning.StatusInFlight))
	} else {
		err = n.resolve(ctx, node, rec.Payment)
	}
	if err != nil {
		return fmt.Errorf("lnd: undo payment record: %w", err)
	}
	return nil
}

// inFlightHashes lists the payments recorded as in flight for node.
func inFlightHashes(ctx context.Context, q store.Querier, node string) ([]lightning.Hash, error) {
	rows, err := q.QueryContext(ctx, `SELECT payment_hash FROM lnd_payments WHERE node_pubkey = $1 AND status = $2
		ORDER BY created_at`, node, string(lightning.StatusInFlight))
	if err != nil {
		return nil, fmt.Errorf("lnd: list in-flight payments: %w", err)
	}
	defer rows.Close()
	var out []lightning.Hash
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		h, err := hexHash("payment_hash", s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// InFlightElsewhere counts, per node, the payments recorded in q as in
// flight on lnd nodes other than self. Such a payment is only ever looked
// up on the node it was sent from: a vaspd on another node would find it
// unknown there and have it sent again, while the first node may still
// complete it. The daemon refuses to start while there are any.
func InFlightElsewhere(ctx context.Context, q store.Querier, self string) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT node_pubkey, COUNT(*) FROM lnd_payments WHERE status = $1 AND node_pubkey <> $2
		GROUP BY node_pubkey ORDER BY node_pubkey`, string(lightning.StatusInFlight), self)
	if err != nil {
		return nil, fmt.Errorf("lnd: list payments in flight on other nodes: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var node string
		var n int
		if err := rows.Scan(&node, &n); err != nil {
			return nil, fmt.Errorf("lnd: list payments in flight on other nodes: %w", err)
		}
		out[node] = n
	}
	return out, rows.Err()
}
