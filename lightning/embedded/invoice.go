package embedded

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
)

// CreateInvoice issues a BOLT11 invoice signed by the node key, with a fresh
// random preimage and payment secret, the request's description hash and
// expiry, and lnd's feature bits.
func (n *Node) CreateInvoice(ctx context.Context, req lightning.InvoiceRequest) (lightning.Invoice, error) {
	inv, err := n.SignInvoice(req)
	if err != nil {
		return lightning.Invoice{}, err
	}
	if err := n.SaveInvoice(ctx, n.db, inv); err != nil {
		return lightning.Invoice{}, err
	}
	return inv, nil
}

// DB is the database the node keeps its state in. A caller sharing it may
// store invoices in its own transactions (SignInvoice, SaveInvoice).
func (n *Node) DB() *store.DB { return n.db }

// SignInvoice is the first half of CreateInvoice: it makes and signs the
// invoice but does not store it, so the node cannot settle it yet. The
// caller stores it with SaveInvoice — typically in the same transaction as
// its own record of what the invoice is for, so that an invoice is never
// payable without that record, nor the record without the invoice — and
// must not hand the invoice out before that transaction has committed.
// Signing happens here, outside any transaction, so that no write lock is
// held during the elliptic-curve work.
func (n *Node) SignInvoice(req lightning.InvoiceRequest) (lightning.Invoice, error) {
	if req.AmountMsat < 0 || req.AmountMsat > bolt11.MaxAmountMsat {
		return lightning.Invoice{}, fmt.Errorf("embedded: invoice amount %d msat out of range", req.AmountMsat)
	}
	if req.DescriptionHash.IsZero() {
		return lightning.Invoice{}, errors.New("embedded: invoice needs a description hash")
	}
	expiry := req.Expiry
	if expiry == 0 {
		expiry = DefaultInvoiceExpiry
	}
	// BOLT11 counts expiry in whole seconds; round up so an invoice never
	// expires earlier than asked.
	expiry = (expiry + time.Second - 1).Truncate(time.Second)
	if expiry < time.Second || expiry > bolt11.MaxExpiry {
		return lightning.Invoice{}, fmt.Errorf("embedded: invoice expiry %s out of range (1s to %s)", req.Expiry, bolt11.MaxExpiry)
	}
	preimage, err := n.randHash()
	if err != nil {
		return lightning.Invoice{}, err
	}
	secret, err := n.randHash()
	if err != nil {
		return lightning.Invoice{}, err
	}
	hash := lightning.Hash(sha256.Sum256(preimage[:]))
	created := n.now().UTC().Truncate(time.Second) // the invoice timestamp has second precision
	pr, err := bolt11.Encode(bolt11.Request{
		Network:         n.opts.Network,
		PaymentHash:     hash,
		PaymentAddr:     secret,
		AmountMsat:      req.AmountMsat,
		DescriptionHash: req.DescriptionHash,
		Timestamp:       created,
		Expiry:          expiry,
	}, n.key)
	if err != nil {
		return lightning.Invoice{}, fmt.Errorf("embedded: encode invoice: %w", err)
	}
	inv := lightning.Invoice{
		PaymentHash:     hash,
		PaymentRequest:  pr,
		AmountMsat:      req.AmountMsat,
		DescriptionHash: req.DescriptionHash,
		State:           lightning.InvoiceOpen,
		CreatedAt:       created,
		ExpiresAt:       created.Add(expiry),
		Preimage:        preimage,
	}
	return inv, nil
}

// SaveInvoice stores an invoice made by SignInvoice with q, which must be
// the node's database (DB) or a transaction on it; the invoice can be paid
// once that is committed. An invoice is stored once: a second SaveInvoice
// of the same payment hash fails.
func (n *Node) SaveInvoice(ctx context.Context, q store.Querier, inv lightning.Invoice) error {
	if inv.State != lightning.InvoiceOpen || inv.PaymentRequest == "" || inv.Preimage.IsZero() ||
		lightning.Hash(sha256.Sum256(inv.Preimage[:])) != inv.PaymentHash {
		return errors.New("embedded: save invoice: not an invoice made by SignInvoice")
	}
	_, err := q.ExecContext(ctx, `INSERT INTO ln_embedded_invoices
		(node_pubkey, payment_hash, preimage, payment_request, amount_msat, amount_paid_msat,
		 description_hash, state, created_at, expires_at, settled_at, settle_index, paid_by)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, 0, 0, '')`,
		n.pubkey, hexHash(inv.PaymentHash), hexHash(inv.Preimage), inv.PaymentRequest, inv.AmountMsat,
		hexHash(inv.DescriptionHash), string(lightning.InvoiceOpen), store.Micros(inv.CreatedAt), store.Micros(inv.ExpiresAt))
	if err != nil {
		return fmt.Errorf("embedded: store invoice: %w", err)
	}
	return nil
}

const invoiceColumns = `payment_hash, preimage, payment_request, amount_msat, amount_paid_msat,
	description_hash, state, created_at, expires_at, settled_at, settle_index`

func (n *Node) scanInvoice(row interface{ Scan(...any) error }) (lightning.Invoice, error) {
	var (
		inv                       lightning.Invoice
		hash, pre, dh, state      string
		created, expires, settled int64
		settleIndex               int64
	)
	if err := row.Scan(&hash, &pre, &inv.PaymentRequest, &inv.AmountMsat, &inv.AmountPaidMsat,
		&dh, &state, &created, &expires, &settled, &settleIndex); err != nil {
		return inv, err
	}
	var err error
	if inv.PaymentHash, err = parseHash(hash); err != nil {
		return inv, err
	}
	if inv.Preimage, err = parseHash(pre); err != nil {
		return inv, err
	}
	if inv.DescriptionHash, err = parseHash(dh); err != nil {
		return inv, err
	}
	inv.State = lightning.InvoiceState(state)
	inv.CreatedAt, inv.ExpiresAt, inv.SettledAt = store.Time(created), store.Time(expires), store.Time(settled)
	inv.SettleIndex = uint64(settleIndex)
	// Like lnd, an open invoice past its expiry is canceled: it can no
	// longer be paid. The row stays OPEN; the state is derived on read.
	if inv.State == lightning.InvoiceOpen && !n.now().Before(inv.ExpiresAt) {
		inv.State = lightning.InvoiceCanceled
	}
	return inv, nil
}

// LookupInvoice returns an invoice this node issued.
func (n *Node) LookupInvoice(ctx context.Context, paymentHash lightning.Hash) (lightning.Invoice, error) {
	inv, err := n.scanInvoice(n.db.QueryRowContext(ctx,
		`SELECT `+invoiceColumns+` FROM ln_embedded_invoices WHERE node_pubkey = $1 AND payment_hash = $2`,
		n.pubkey, hexHash(paymentHash)))
	if errors.Is(err, sql.ErrNoRows) {
		return lightning.Invoice{}, fmt.Errorf("embedded: invoice %s: %w", paymentHash, lightning.ErrNotFound)
	}
	if err != nil {
		return lightning.Invoice{}, fmt.Errorf("embedded: lookup invoice: %w", err)
	}
	return inv, nil
}

// CancelInvoice cancels the open invoice with paymentHash
// (lightning.InvoiceCanceler): its settlement (accept) moves an invoice
// only from OPEN, so a payment arriving after this is refused, and one
// settling it first leaves it settled (ErrAlreadyPaid).
func (n *Node) CancelInvoice(ctx context.Context, paymentHash lightning.Hash) error {
	res, err := n.db.ExecContext(ctx, `UPDATE ln_embedded_invoices SET state = $3
		WHERE node_pubkey = $1 AND payment_hash = $2 AND state = $4`,
		n.pubkey, hexHash(paymentHash), string(lightning.InvoiceCanceled), string(lightning.InvoiceOpen))
	if err != nil {
		return fmt.Errorf("embedded: cancel invoice: %w", err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("embedded: cancel invoice: %w", err)
	} else if k == 1 {
		return nil
	}
	var state string
	err = n.db.QueryRowContext(ctx, `SELECT state FROM ln_embedded_invoices WHERE node_pubkey = $1 AND payment_hash = $2`,
		n.pubkey, hexHash(paymentHash)).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("embedded: invoice %s: %w", paymentHash, lightning.ErrNotFound)
	case err != nil:
		return fmt.Errorf("embedded: cancel invoice: %w", err)
	case state == string(lightning.InvoiceSettled):
		return fmt.Errorf("embedded: invoice %s: %w", paymentHash, lightning.ErrAlreadyPaid)
	}
	return nil // canceled already
}

// SubscribeSettled streams invoices settled after afterSettleIndex, in
// settle-index order. Settlements made by this process arrive at once;
// those made by other processes sharing the database within PollInterval.
func (n *Node) SubscribeSettled(ctx context.Context, afterSettleIndex uint64) (<-chan lightning.Invoice, func() error, error) {
	if afterSettleIndex > 1<<62 {
		return nil, nil, fmt.Errorf("embedded: settle index %d out of range", afterSettleIndex)
	}
	out := make(chan lightning.Invoice)
	done := make(chan struct{})
	var subErr error
	go func() {
		defer close(done)
		defer close(out)
		subErr = n.streamSettled(ctx, int64(afterSettleIndex), out)
	}()
	wait := func() error {
		<-done
		return subErr
	}
	return out, wait, nil
}

func (n *Node) streamSettled(ctx context.Context, cursor int64, out chan<- lightning.Invoice) error {
	const batch = 100
	ticker := time.NewTicker(n.opts.PollInterval)
	defer ticker.Stop()
	for {
		woken := n.wake.wait() // before the query, so no settlement slips between
		invs, err := n.settledAfter(ctx, cursor, batch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, inv := range invs {
			select {
			case out <- inv:
				cursor = int64(inv.SettleIndex)
			case <-ctx.Done():
				return nil
			}
		}
		if len(invs) == batch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-woken:
		case <-ticker.C:
		}
	}
}

func (n *Node) settledAfter(ctx context.Context, cursor int64, limit int) ([]lightning.Invoice, error) {
	// The literal "settle_index > 0" lets both planners use the partial
	// index of settled invoices; a parameter alone cannot prove the row is
	// in it, and the query then scanned and sorted every invoice.
	rows, err := n.db.QueryContext(ctx, `SELECT `+invoiceColumns+` FROM ln_embedded_invoices
		WHERE node_pubkey = $1 AND settle_index > 0 AND settle_index > $2 ORDER BY settle_index LIMIT $3`, n.pubkey, cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: read settled invoices: %w", err)
	}
	defer rows.Close()
	var out []lightning.Invoice
	for rows.Next() {
		inv, err := n.scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("embedded: read settled invoices: %w", err)
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}
