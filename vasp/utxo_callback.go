package vasp

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// MaxUtxoCallbacks bounds the different post-transaction callbacks kept
// about one transaction. A sender owes one per payment (UMAD-07), perhaps a
// second reporting another outcome or updated UTXOs, and its retries of one
// are kept once; beyond that, a counterparty sending ever new ones could
// grow uma_utxo_callbacks without limit (up to 256 KiB a row) about one
// payment. Ten is well above what an honest sender sends, and bounds the
// rows, and what ReceiveUtxoCallback reads to compare, to a few MiB.
const MaxUtxoCallbacks = 10

// ReceiveUtxoCallback verifies and stores a counterparty's post-transaction
// callback about one of our transactions. A callback saying what one kept
// about the transaction already says (a sender's retry, signed afresh) is
// answered as a success and not kept again, so a sender whose first
// attempt timed out after we stored it stops retrying. Past
// MaxUtxoCallbacks different ones, more are refused with FORBIDDEN (403),
// which a sender takes as final, unlike a 5xx.
func (s *Service) ReceiveUtxoCallback(ctx context.Context, txID string, body []byte) error {
	cb, err := uma.ParsePostTransactionCallback(body)
	if err != nil {
		return err
	}
	var t Transaction
	if _, perr := vaspd.ParseID(vaspd.IDQuote, txID); perr == nil {
		// Our payreqs name the quote: its id exists before the transaction.
		t, err = scanTransaction(s.db.QueryRowContext(ctx, `SELECT `+txColumns+` FROM uma_transactions WHERE quote_id = $1`, txID))
	} else if _, perr := vaspd.ParseID(vaspd.IDTransaction, txID); perr == nil {
		t, err = s.GetTransaction(ctx, txID)
	} else {
		// No id of ours, and perhaps no text (the caller's bytes):
		// not put to a database that stores only UTF-8.
		return uma.Errorf(uma.CodeRequestNotFound, "no such transaction")
	}
	switch {
	case errors.Is(err, sql.ErrNoRows) || vaspd.AsError(err).Status == http.StatusNotFound:
		return uma.Errorf(uma.CodeRequestNotFound, "no such transaction")
	case err != nil:
		// Not "no such transaction": the sender would stop retrying a
		// callback our database merely failed to look up. A 500 it retries.
		return fmt.Errorf("find the transaction of a utxo callback: %w", err)
	}
	if cb.VaspDomain == "" {
		return uma.Errorf(uma.CodeParseUTXOCallbackError, "vaspDomain is required")
	}
	addr, err := uma.ParseAddress(t.Counterparty)
	if err != nil || (t.Direction == Outgoing && !addr.UMA) {
		// A plain LNURL payment (its counterparty none, or a Lightning
		// Address we paid: an UMA receiver we paid is always "$…", though
		// an UMA sender may name itself without) has no UMA counterparty
		// to hear from.
		return uma.Errorf(uma.CodeRequestNotFound, "no such transaction")
	}
	// The same server however spelt (uma.NormalizeDomain): a payer
	// identifier with ":443" or a trailing dot was verified with the keys
	// the plain domain serves, and shares its nonce scope.
	if !uma.SameDomain(addr.Domain, cb.VaspDomain) {
		return uma.Errorf(uma.CodeInvalidSignature, "callback from %s about a payment with %s", vaspd.Truncate(cb.VaspDomain, 100), addr.Domain)
	}
	// The nonce is stored with the callback: one that could not be kept
	// leaves its nonce unused, so the sender's retry is not a replay.
	vctx, nonces := deferNonces(ctx)
	if err := s.verifier.VerifyPostTransactionCallback(vctx, cb, cb.VaspDomain); err != nil {
		return err
	}
	hash := callbackContent(cb)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		// Callbacks about one transaction are decided one at a time: a
		// copy waits here for the one before it to commit, then finds it
		// kept.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM uma_transactions WHERE id = $1 `+tx.Driver().ForUpdate(), t.ID).Scan(&one); err != nil {
			return fmt.Errorf("lock the transaction of a utxo callback: %w", err)
		}
		if err := s.nonces.saveDeferred(ctx, tx, nonces); err != nil {
			return err
		}
		kept, err := keptCallbacks(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		if kept[hash] {
			s.log.Debug("utxo callback kept already", "transaction", t.ID)
			return nil
		}
		if len(kept) >= MaxUtxoCallbacks {
			s.log.Warn("utxo callback over the cap refused", "transaction", t.ID, "from", cb.VaspDomain, "kept", len(kept))
			return uma.Errorf(uma.CodeForbidden, "this transaction has %d post-transaction callbacks already, the most kept; do not send more", len(kept))
		}
		// ON CONFLICT: the unique key is what keeps one of two copies
		// should they ever be decided at once.
		_, err = tx.ExecContext(ctx, `INSERT INTO uma_utxo_callbacks (id, transaction_id, vasp_domain, body, received_at, content_hash)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (transaction_id, content_hash) DO NOTHING`,
			vaspd.NewID("UtxoCallback"), t.ID, cb.VaspDomain, string(body), store.Micros(s.clock.Now()), hash)
		return err
	})
}

// callbackContent is the SHA-256 (hex) of what cb says: everything but its
// nonce, timestamp and signature, which differ between a sender's
// attempts. UTXOs are sorted (a sender may list them from a map) and the
// domain lower-cased, so that neither makes a retry a new callback.
func callbackContent(cb *uma.PostTransactionCallback) string {
	utxos := slices.Clone(cb.Utxos)
	slices.SortFunc(utxos, func(a, b uma.UtxoWithAmount) int {
		return cmp.Or(strings.Compare(a.Utxo, b.Utxo), cmp.Compare(a.AmountMsats, b.AmountMsats))
	})
	// Its own struct rather than the wire form: the hash must not change
	// when the wire form does (rows keep it).
	b, err := json.Marshal(struct {
		Utxos             []uma.UtxoWithAmount
		VaspDomain        string
		TransactionStatus uma.TransactionStatus
		ErrorCode         uma.ErrorCode
		ErrorReason       string
	}{append([]uma.UtxoWithAmount{}, utxos...), strings.ToLower(cb.VaspDomain), cb.TransactionStatus, cb.ErrorCode, cb.ErrorReason})
	if err != nil {
		panic(err) // strings and integers only
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// keptCallbacks returns the contents of the callbacks kept about txID
// (callbackContent). Rows from before migration 0520 have no hash: theirs
// is computed from their bodies, which were parsed before they were kept.
func keptCallbacks(ctx context.Context, q store.Querier, txID string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, COALESCE(content_hash, ''), CASE WHEN content_hash IS NULL THEN body ELSE '' END
		FROM uma_utxo_callbacks WHERE transaction_id = $1`, txID)
	if err != nil {
		return nil, fmt.Errorf("read the utxo callbacks of %s: %w", txID, err)
	}
	defer rows.Close()
	kept := map[string]bool{}
	for rows.Next() {
		var id, hash, body string
		if err := rows.Scan(&id, &hash, &body); err != nil {
			return nil, err
		}
		if hash == "" {
			cb, err := uma.ParsePostTransactionCallback([]byte(body))
			if err != nil {
				hash = "unreadable " + id // matches nothing new, and counts as one
			} else {
				hash = callbackContent(cb)
			}
		}
		kept[hash] = true
	}
	return kept, rows.Err()
}
