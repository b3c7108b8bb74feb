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
	WriteJSON(w, http.StatusOK, rep)
	return nil
}
