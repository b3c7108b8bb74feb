package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/vasp"
)

// Bounds of GET /ledger/reconciliation. Each payment checked is a call
// to the Lightning node (a network call with lnd), so one request checks
// at most reconcileMaxTransactions of them, within reconcileTimeout (well
// inside WriteTimeout, so the answer is written); the report says when it
// stopped short and where to go on from.
const (
	reconcileDefaultWindow   = 24 * time.Hour
	reconcileMaxWindow       = 31 * 24 * time.Hour
	reconcileMaxTransactions = 10_000
	reconcileTimeout         = 45 * time.Second
)

// notAuditedReconcile is why the reconciliation is not audited.
const notAuditedReconcile = "a read: it asks the Lightning node about payments and changes nothing"

// MountReconciliation adds the on-demand reconciliation of vaspd's books
// with the Lightning node:
//
//	GET /ledger/reconciliation?since=&until=  MANAGE  the report
//
// MANAGE, not VIEW: one request makes up to 10,000 calls to the node, and
// VIEW is what metric scrapers and dashboards are given (docs/metrics.md);
// the report spans every user's payments. The periodic runs' findings are
// in the metrics, which VIEW reads.
func (s *Server) MountReconciliation(v *vasp.Service) {
	h := &reconcileHandlers{v: v, clock: s.opts.Clock}
	s.Handle("GET /ledger/reconciliation", vaspd.PermManage, h.reconcile, NotAudited(notAuditedReconcile))
}

type reconcileHandlers struct {
	v     *vasp.Service
	clock vaspd.Clock
}

type reconcileSide struct {
	Status      string `json:"status"`
	Msats       int64  `json:"msats"`
	FeeMsats    int64  `json:"feeMsats"`
	LedgerMsats int64  `json:"ledgerMsats"`
}

type reconcileNodeSide struct {
	State    string `json:"state"`
	Msats    int64  `json:"msats"`
	FeeMsats int64  `json:"feeMsats"`
}

type reconcileMismatch struct {
	TransactionID string            `json:"transactionId"`
	PaymentHash   string            `json:"paymentHash"`
	Direction     string            `json:"direction"`
	Kind          string            `json:"kind"`
	Vaspd         reconcileSide     `json:"vaspd"`
	Node          reconcileNodeSide `json:"node"`
}

type reconcileInFlight struct {
	IncomingPending    int `json:"incomingPending"`
	OutgoingProcessing int `json:"outgoingProcessing"`
}

type reconcileReport struct {
	Since          time.Time           `json:"since"`
	Until          time.Time           `json:"until"`
	StartedAt      time.Time           `json:"startedAt"`
	FinishedAt     time.Time           `json:"finishedAt"`
	Complete       bool                `json:"complete"`
	ResumeSince    *time.Time          `json:"resumeSince,omitempty"`
	Incomplete     string              `json:"incomplete,omitempty"`
	Transactions   int                 `json:"transactions"`
	Checked        map[string]int      `json:"checked"`
	InFlight       reconcileInFlight   `json:"inFlight"`
	Unchecked      int                 `json:"unchecked"`
	MismatchCounts map[string]int      `json:"mismatchCounts"`
	Mismatches     []reconcileMismatch `json:"mismatches"`
}

// reconcile checks the payments created in [since, until) (default: the
// last 24 hours; at most 31 days) against the node.
func (h *reconcileHandlers) reconcile(w http.ResponseWriter, r *http.Request) error {
	since, err := QueryTime(r, "since")
	if err != nil {
		return err
	}
	until, err := QueryTime(r, "until")
	if err != nil {
		return err
	}
	if until.IsZero() {
		until = h.clock.Now()
	}
	if since.IsZero() {
		since = until.Add(-reconcileDefaultWindow)
	}
	switch {
	case !since.Before(until):
		return vaspd.InvalidInput("since must be before until")
	case until.Sub(since) > reconcileMaxWindow:
		return vaspd.InvalidInput("the window from since to until may be at most %s (31 days): reconcile a longer one in parts", reconcileMaxWindow)
	}
	ctx, cancel := context.WithTimeout(r.Context(), reconcileTimeout)
	defer cancel()
	rep, err := h.v.Reconcile(ctx, since, until, reconcileMaxTransactions)
	if errors.Is(err, vasp.ErrReconcileRunning) {
		return vaspd.Conflict(vaspd.CodeConflict, "a reconciliation is already running in this process: try again when it has ended")
	}
	if err != nil {
		return err
	}
	out := reconcileReport{Since: rep.Since, Until: rep.Until, StartedAt: rep.StartedAt, FinishedAt: rep.FinishedAt,
		Complete: rep.Complete, Incomplete: rep.Incomplete, Transactions: rep.Transactions, Checked: rep.Checked,
		InFlight:  reconcileInFlight{IncomingPending: rep.InFlight.IncomingPending, OutgoingProcessing: rep.InFlight.OutgoingProcessing},
		Unchecked: rep.Unchecked, MismatchCounts: rep.MismatchCounts, Mismatches: []reconcileMismatch{}}
	if !rep.ResumeSince.IsZero() {
		out.ResumeSince = &rep.ResumeSince
	}
	for _, m := range rep.Mismatches {
		out.Mismatches = append(out.Mismatches, reconcileMismatch{TransactionID: m.TransactionID, PaymentHash: m.PaymentHash,
			Direction: m.Direction, Kind: m.Kind,
			Vaspd: reconcileSide{Status: m.Ours.Status, Msats: m.Ours.Msats, FeeMsats: m.Ours.FeeMsats, LedgerMsats: m.Ours.LedgerMsats},
			Node:  reconcileNodeSide{State: m.Node.State, Msats: m.Node.Msats, FeeMsats: m.Node.FeeMsats}})
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}
